/**
 * Delivery Status Notifications (RFC 3464): the `multipart/report;
 * report-type=delivery-status` messages a mail system returns for email it could
 * not (or could only later) deliver. Parsed into per-recipient results and the
 * Message-ID of the original message, which names ours (`<message id@domain>`).
 */
import { uuidOrNull } from './webhooks/body.js';

/** One recipient's result in a DSN. */
export interface DsnRecipient {
  /** The recipient address (`Final-Recipient`, else `Original-Recipient`), lower-cased. */
  recipient: string;
  /** `failed`, `delayed`, `delivered`, `relayed` or `expanded`. */
  action: string;
  /** The RFC 3463 status code, e.g. `5.1.1`. */
  status: string | null;
  /** The remote server's reply (`Diagnostic-Code`), e.g. `smtp; 550 5.1.1 No such user`. */
  diagnostic: string | null;
}

/** A parsed DSN. */
export interface ParsedDsn {
  /** Our message id, from the returned headers' `X-Courier-Message-Id` or `Message-ID`. */
  messageId: string | null;
  /** The original `Message-ID` header, as returned. */
  originalMessageId: string | null;
  recipients: DsnRecipient[];
}

function unfold(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ');
}

function headerBlocks(text: string): Array<Map<string, string>> {
  return unfold(text)
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      return fields;
    })
    .filter((f) => f.size > 0);
}

/** Splits a MIME body into its parts for `boundary` (one level). */
function parts(body: string, boundary: string): Array<{ headers: Map<string, string>; body: string }> {
  const out: Array<{ headers: Map<string, string>; body: string }> = [];
  for (const chunk of body.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const text = chunk.replace(/^\r?\n/, '');
    const split = /\r?\n\r?\n/.exec(text);
    const head = split ? text.slice(0, split.index) : text;
    const rest = split ? text.slice(split.index + split[0].length) : '';
    out.push({ headers: headerBlocks(head)[0] ?? new Map(), body: rest });
  }
  return out;
}

/** The per-recipient blocks of a `message/delivery-status` body (the per-message block is skipped). */
function statusRecipients(body: string): { envelopeId: string | null; recipients: DsnRecipient[] } {
  const [perMessage, ...perRecipient] = headerBlocks(body);
  const recipients: DsnRecipient[] = [];
  for (const f of perRecipient) {
    const address = (f.get('final-recipient') ?? f.get('original-recipient') ?? '').replace(/^[^;]*;\s*/, '').trim().toLowerCase();
    const action = (f.get('action') ?? '').toLowerCase();
    if (!address || !action) continue;
    recipients.push({ recipient: address, action, status: /\d\.\d{1,3}\.\d{1,3}/.exec(f.get('status') ?? '')?.[0] ?? null, diagnostic: f.get('diagnostic-code') ?? null });
  }
  return { envelopeId: perMessage?.get('original-envelope-id') ?? null, recipients };
}

/**
 * Parses a DSN (the full RFC 5322 message). Returns `null` when it is not a
 * `multipart/report` with a `message/delivery-status` part.
 */
export function parseDsn(raw: string): ParsedDsn | null {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  if (split < 0) return null;
  const top = headerBlocks(text.slice(0, split))[0] ?? new Map<string, string>();
  const type = top.get('content-type') ?? '';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (!/multipart\/report/i.test(type) || !boundary) return null;
  const all = parts(text.slice(split + 2), boundary);
  const status = all.find((p) => /message\/(global-)?delivery-status/i.test(p.headers.get('content-type') ?? ''));
  if (!status) return null;
  const { envelopeId, recipients } = statusRecipients(status.body);
  const original = all.find((p) => /message\/rfc822|text\/rfc822-headers|message\/global-headers/i.test(p.headers.get('content-type') ?? ''));
  const returned = original ? (headerBlocks(original.body)[0] ?? new Map<string, string>()) : new Map<string, string>();
  const originalMessageId = returned.get('message-id') ?? null;
  const messageId = uuidOrNull(returned.get('x-courier-message-id')) ?? uuidOrNull(/^<([^@>]+)@/.exec(originalMessageId ?? '')?.[1]) ?? uuidOrNull(envelopeId);
  return { messageId, originalMessageId, recipients };
}

/**
 * Parses a report as an HTTP body of `contentType`: the whole bounce email
 * (`message/rfc822`, or no type), the report itself (`multipart/report;
 * boundary=…`, the MIME body without the mail's headers), or only its
 * `message/delivery-status` part (the message is then named by its
 * `Original-Envelope-Id`, or by the caller). Returns `null` when it is none of these.
 */
export function parseDsnBody(raw: string, contentType: string | null): ParsedDsn | null {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'multipart/report') return parseDsn(`Content-Type: ${contentType}\r\n\r\n${raw}`);
  if (type === 'message/delivery-status' || type === 'message/global-delivery-status') {
    const { envelopeId, recipients } = statusRecipients(raw.replace(/\r\n/g, '\n'));
    return recipients.length > 0 ? { messageId: uuidOrNull(envelopeId), originalMessageId: null, recipients } : null;
  }
  return parseDsn(raw);
}
