/**
 * Media attachments: URLs or `{ url, contentType, filename }`, and the WhatsApp
 * message type each one needs (image, video, audio or document).
 */
import type { MediaItem } from './types.js';

const BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  mov: 'video/quicktime',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  amr: 'audio/amr',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/** Media given as URLs or items, as items. */
export function toMediaItems(media: ReadonlyArray<string | MediaItem> | null | undefined): MediaItem[] {
  return (media ?? []).map((m) => (typeof m === 'string' ? { url: m } : m));
}

/** The content type of an item: as given, else guessed from the URL path's extension, else `application/octet-stream`. */
export function contentTypeOf(item: MediaItem): string {
  if (item.contentType) return item.contentType.toLowerCase();
  let path = item.url;
  try {
    path = new URL(item.url).pathname;
  } catch {
    // keep the raw text
  }
  const ext = /\.([a-z0-9]{1,5})$/i.exec(path)?.[1]?.toLowerCase();
  return (ext && BY_EXTENSION[ext]) || 'application/octet-stream';
}

/** WhatsApp media message types. */
export type WhatsAppMediaType = 'image' | 'video' | 'audio' | 'document';

/**
 * The WhatsApp Cloud API message type of an item, by content type: `image/*` →
 * image, `video/*` → video, `audio/*` → audio, anything else → document.
 */
export function whatsappMediaType(item: MediaItem): WhatsAppMediaType {
  const type = contentTypeOf(item);
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

/** A file name for a document: as given, else the last path segment of its URL. */
export function documentName(item: MediaItem): string | undefined {
  if (item.filename) return item.filename;
  try {
    const last = new URL(item.url).pathname.split('/').pop();
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}

/** What WhatsApp cannot send in one message, or `null`: several media, or text with an audio file. */
export function whatsappMediaProblem(message: { text: string | null; mediaItems: MediaItem[] }): string | null {
  if (message.mediaItems.length > 1) return 'WhatsApp takes one media file per message; send one message per file';
  const [item] = message.mediaItems;
  if (item && whatsappMediaType(item) === 'audio' && message.text) return 'WhatsApp audio takes no caption; send the text as its own message';
  return null;
}

