import type { QuietHours } from './quiet.js';

export type { QuietHours } from './quiet.js';

/** Channels pgcourier knows out of the box. `voice` and `in_person` are tracked, not sent. */
export type BuiltinChannel = 'email' | 'sms' | 'whatsapp' | 'voice' | 'in_person';

/** A message channel: a built-in one or one added with `registerChannel`. */
export type Channel = BuiltinChannel | (string & {});

/**
 * Status of a message. Forward order: `queued → pending → sending → sent →
 * delivered → read`; `failed`, `undelivered` and `unknown` end a send. A status
 * never moves backwards: a late `sent` webhook does not overwrite `delivered`.
 *
 * - `queued`: stored, its send task waits.
 * - `pending`: the send task waits for a retry, a rate limit or a paused provider.
 * - `sending`: a request to the provider is in flight.
 * - `sent`: the provider accepted it.
 * - `delivered` / `read`: the provider's status webhook said so.
 * - `failed` / `undelivered`: refused, or reported undeliverable by the provider.
 * - `unknown`: the request may have been accepted (timeout after it left); not resent.
 */
export type MessageStatus = 'queued' | 'pending' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'undelivered' | 'unknown';

/**
 * How a provider's answer is classified.
 *
 * - `ok`: accepted.
 * - `retry`: transient and provably not accepted; retried with backoff.
 * - `rate_limited`: the provider asked us to slow down; deferred without using a retry.
 * - `permanent`: the same request will fail again; the message fails.
 * - `permanent_recipient`: the recipient cannot be reached; the message fails and the
 *   recipient is suppressed on that channel.
 * - `config`: our credentials or sender are wrong; the provider is paused.
 * - `ambiguous`: it may have been accepted; the provider's ambiguity policy decides.
 */
export type OutcomeClass = 'ok' | 'retry' | 'rate_limited' | 'permanent' | 'permanent_recipient' | 'config' | 'ambiguous';

/** What to do when a send may or may not have reached the provider. */
export type AmbiguityPolicy = 'unknown' | 'retry';

/** Values substituted into `{{name}}` placeholders. */
export type TemplateVariables = Record<string, string | number | boolean | null>;

/** An email template: each part is rendered with `{{name}}` placeholders (HTML-escaped in `html`). */
export interface EmailTemplate {
  /** Subject line template. */
  subject?: string;
  /** Plain-text body template. */
  text?: string;
  /** HTML body template; substituted values are HTML-escaped. */
  html?: string;
}

/** A pre-approved WhatsApp template (Meta Cloud API); `variables` become its body parameters. */
export interface WhatsAppTemplate {
  /** Template name as approved in WhatsApp Manager. */
  name: string;
  /** Language code (default `en_US`). */
  language?: string;
  /** The header's parameter, for templates with a variable header: text, or a media URL. */
  header?: WhatsAppTemplateHeader;
  /** Parameters of the template's buttons, in button order (index 0, 1, …). */
  buttons?: WhatsAppTemplateButton[];
}

/** A template header parameter: text, or the link of an image, video or document. */
export type WhatsAppTemplateHeader = { text: string } | { image: string } | { video: string } | { document: string; filename?: string };

/**
 * A template button parameter: a dynamic URL suffix (`url`), a quick-reply payload
 * (`quick_reply`) or a coupon code (`copy_code`).
 */
export type WhatsAppTemplateButton = { type: 'url'; text: string } | { type: 'quick_reply'; payload: string } | { type: 'copy_code'; code: string };

/** An email attachment. */
export interface EmailAttachment {
  /** File name shown to the recipient. */
  filename: string;
  /** The file's bytes, base64-encoded. */
  content: string;
  /** MIME type (default: guessed from the file name by the provider). */
  contentType?: string;
}

/** A media attachment given with its content type (and a file name for documents). */
export interface MediaItem {
  /** Public http(s) URL of the file. */
  url: string;
  /** MIME type, e.g. `application/pdf`, `video/mp4`; decides the WhatsApp message type. Default: guessed from the URL's extension. */
  contentType?: string;
  /** File name shown for documents. */
  filename?: string;
}

/** A Twilio Content API template (`ContentSid`); `variables` become `ContentVariables`. */
export interface ContentTemplate {
  /** The template's `HX…` sid. */
  contentSid: string;
}

/**
 * Content of a message given as a template: a text template with `{{name}}`
 * placeholders, an email template, or a provider template.
 */
export type MessageTemplate = string | EmailTemplate | WhatsAppTemplate | ContentTemplate;

/** Input of `courier.messages.send()`. Give `body` (literal text) or `template` (rendered with `variables`). */
export interface SendMessageInput {
  /** Channel to send on. */
  channel: Channel;
  /** Recipient: an email address, or an E.164 phone number (`+15551234567`). */
  to: string;
  /** Sender override (default: the provider's configured `from`). */
  from?: string;
  /** Literal text body. */
  body?: string;
  /** Literal HTML body (email). */
  html?: string;
  /** Subject (email); rendered with `variables` when a template is used. */
  subject?: string;
  /** Template rendered with `variables` at send time. */
  template?: MessageTemplate;
  /** Values for the template's placeholders. */
  variables?: TemplateVariables;
  /**
   * Media (MMS over Twilio: at most 10; WhatsApp: one per message): URLs, or
   * `{ url, contentType, filename }` to say what each is.
   */
  media?: Array<string | MediaItem>;
  /** Provider to use (default: the channel's configured provider). */
  provider?: string;
  /** Give up (status `failed`, error `expired`) if not sent by then. */
  expiresAt?: Date | string | number;
  /**
   * WhatsApp `{ template, variables }`: sent as a new message when the provider
   * reports that the 24-hour customer-service window is closed (Meta 131047, Twilio
   * 63016). Or a {@link ChannelFallback} `{ channel, to?, body | template }`: sent
   * on another channel when this message fails for good.
   */
  fallback?: { template: WhatsAppTemplate | ContentTemplate; variables?: TemplateVariables } | ChannelFallback;
  /** Priority of the send task, 1 (highest) … 10 (default 5). */
  priority?: number;
  /** Email: `Reply-To` address. */
  replyTo?: string;
  /** Email: copy recipients (not tracked or suppressed separately). */
  cc?: string[];
  /** Email: blind copy recipients (not tracked or suppressed separately). */
  bcc?: string[];
  /** Email: extra headers (`X-…` and other non-structural names; no CR/LF in values). */
  headers?: Record<string, string>;
  /** Email: files, as base64 `content` (at most 10 files, 10 MB in all). */
  attachments?: EmailAttachment[];
  /**
   * Email: add `List-Unsubscribe` and one-click `List-Unsubscribe-Post` (RFC 8058)
   * with a signed URL (needs `providers.unsubscribe`). Bulk emails get them by default.
   */
  unsubscribe?: boolean;
  /** Send at this time, not before (a Date, ISO-8601 string or epoch milliseconds). */
  sendAt?: Date | string | number;
  /** Do not send inside this daily window (local time in `quietHours.timeZone`); wait for its end. */
  quietHours?: QuietHours;
  /**
   * The caller's key for this message (1–256 characters): a second `send()` with the
   * same key creates nothing and returns the first message's id, so a caller that
   * retries after a timeout does not send twice.
   */
  idempotencyKey?: string;
}

/**
 * Another channel to try when a message fails for good (refused, suppressed,
 * undeliverable, not sent in time): a new linked message (`relation:
 * 'channel_fallback'`), e.g. WhatsApp not reachable → SMS.
 */
export interface ChannelFallback {
  /** Channel of the fallback message. */
  channel: Channel;
  /** Recipient on that channel (default: the same `to`, if valid there). */
  to?: string;
  /** Literal body. */
  body?: string;
  /** Subject (email). */
  subject?: string;
  /** Template, rendered with `variables`. */
  template?: MessageTemplate;
  /** Variables of the template. */
  variables?: TemplateVariables;
  /** Provider on that channel (default: the channel's). */
  provider?: string;
}

/** Options of `courier.messages.send()`. */
export interface SendOptions {
  /**
   * The caller's open transaction: the message and its task exist only if it commits.
   * Every kind `enqueueTask` takes: a `pg` client inside BEGIN, or a transaction of
   * Kysely, Drizzle, Prisma, Knex, TypeORM, Sequelize, MikroORM or postgres.js.
   */
  tx?: unknown;
}

/** One recipient of a bulk send, with its own variables. */
export interface BulkRecipient {
  /** Recipient address or number. */
  to: string;
  /** Variables for this recipient, merged over the batch's shared `variables`. */
  variables?: TemplateVariables;
  /** The caller's key for this recipient's message: a recipient whose key was already used (in any batch or send) gets no new message. */
  idempotencyKey?: string;
  /** This recipient's IANA time zone, for the batch's `quietHours` (default: the window's own). */
  timeZone?: string;
  /** This recipient on the batch's fallback channel (default: the same `to`, if valid there). */
  fallbackTo?: string;
}

/** Input of `courier.messages.sendBulk()`. */
export interface SendBulkInput {
  /** Channel of every message. */
  channel: Channel;
  /** Recipients: addresses, or `{ to, variables }` for per-recipient variables. */
  recipients: Array<string | BulkRecipient>;
  /** Shared content, rendered per recipient. */
  template: MessageTemplate;
  /** Variables shared by every recipient. */
  variables?: TemplateVariables;
  /** Subject (email), rendered per recipient. */
  subject?: string;
  /** Sender override. */
  from?: string;
  /** Provider to use (default: the channel's). */
  provider?: string;
  /** Deadline for every message of the batch. */
  expiresAt?: Date | string | number;
  /** A label for listings. */
  name?: string;
  /** Priority of the send tasks (default 5). */
  priority?: number;
  /** Send at this time, not before. */
  sendAt?: Date | string | number;
  /** Quiet hours, in each recipient's `timeZone` (else the window's own `timeZone`, else UTC). */
  quietHours?: QuietHours;
  /**
   * What each recipient gets when their message fails for good, as `send()`'s
   * `fallback`: a WhatsApp `{ template, variables? }` for a closed 24-hour window, or
   * a {@link ChannelFallback} on another channel (to each recipient's `fallbackTo`,
   * else the same `to`; its template is rendered with the batch's and the
   * recipient's variables under its own). The fallback joins the batch in place of
   * the failed message, so the recipient counts once.
   */
  fallback?: SendMessageInput['fallback'];
}

/** An error recorded on a message. */
export interface MessageError {
  /** Provider error code (`21610`, `131047`, `550 5.1.1`…) or ours (`expired`, `suppressed`, `ambiguous`). */
  code: string | null;
  /** Human-readable description, with secrets redacted. */
  message: string;
}

/** A message as read by `courier.messages.get()`. */
export interface MessageInfo {
  /** Message id (a UUID). */
  id: string;
  /** Channel. */
  channel: Channel;
  /** Recipient. */
  to: string;
  /** Sender, when known. */
  from: string | null;
  /** Current status. */
  status: MessageStatus;
  /** Provider that handles it (`smtp`, `resend`, `twilio`, `meta`…), once chosen. */
  provider: string | null;
  /** The provider's id (Twilio SID, WhatsApp wamid, SMTP Message-ID, Resend id). */
  providerMessageId: string | null;
  /** Last error, or `null`. */
  error: MessageError | null;
  /** Send attempts made (requests handed to the provider). */
  attempts: number;
  /** Batch the message belongs to, or `null`. */
  batchId: string | null;
  /** Id of its send task, or `null` for tracked-only channels. */
  taskId: string | null;
  /** Message this one follows up (e.g. a template fallback), or `null`. */
  parentId: string | null;
  /** Why it follows its parent: `window_fallback`, `webhook_retry`, `failover`, `channel_fallback`, `resend`; or `null`. */
  relation: string | null;
  /**
   * Messages that follow this one (what it fell back or failed over to, was
   * retried or resent as), oldest first, each with its `relation`. Read by
   * `messages.get()`; empty elsewhere.
   */
  followUps: Array<{ id: string; relation: string | null }>;
  /** The caller's idempotency key, or `null`. */
  idempotencyKey: string | null;
  /** Subject, when set. */
  subject: string | null;
  /** Deadline, or `null`. */
  expiresAt: Date | null;
  /** When it was created. */
  createdAt: Date;
  /** When it last changed. */
  updatedAt: Date;
  /** When the provider accepted it. */
  sentAt: Date | null;
  /** When it was reported delivered. */
  deliveredAt: Date | null;
}

/** One entry of a message's send ledger. */
export interface MessageAttempt {
  /** 1 for the first request, and so on. */
  n: number;
  /** Send task and its attempt number. */
  taskId: string | null;
  /** Attempt number of the task that made the request. */
  taskAttempt: number | null;
  /** Provider called. */
  provider: string;
  /** When the request started. */
  startedAt: Date;
  /** When its outcome was recorded; `null` while in flight or if the process died. */
  finishedAt: Date | null;
  /** Classified outcome. */
  outcome: OutcomeClass | null;
  /** Error code and text, if any. */
  error: MessageError | null;
  /** Provider id returned, if any. */
  providerMessageId: string | null;
}

/** A provider event or note applied to a message. */
export interface MessageEvent {
  /** `twilio`, `meta`, `manual`… */
  source: string;
  /** Status reported, if any. */
  status: string | null;
  /** Provider error code, if any. */
  errorCode: string | null;
  /** Free text note (manual updates). */
  note: string | null;
  /** Whether the event moved the message's status. */
  applied: boolean;
  /** When it was received. */
  receivedAt: Date;
}

/** Progress of a bulk batch. `completed + failed + active` always equals `total`. */
export interface BatchProgress {
  /** Batch id. */
  id: string;
  /** Channel of its messages. */
  channel: Channel;
  /** Label given at creation, or `null`. */
  name: string | null;
  /** Messages in the batch. */
  total: number;
  /** Accepted by the provider (`sent`, `delivered`, `read`). */
  completed: number;
  /** Finished without confirmed success (`failed`, `undelivered`, `unknown`). */
  failed: number;
  /** Not finished yet (`queued`, `pending`, `sending`). */
  active: number;
  /** Finished share, 0–100 (integer). */
  progress: number;
  /** Count per status. */
  byStatus: Record<MessageStatus, number>;
  /** When the batch was created. */
  createdAt: Date;
}

/** Message counts per status, with a total. */
export type StatusCounts = Record<MessageStatus, number> & { total: number };

/** What `courier.messages.status()` returns. */
export interface MessageQueueStatus {
  /** Counts per channel. */
  channels: Record<string, StatusCounts>;
  /** Counts over all channels. */
  total: StatusCounts;
}

/** Every message status, in forward order. */
export const MESSAGE_STATUSES: readonly MessageStatus[] = ['queued', 'pending', 'sending', 'unknown', 'sent', 'failed', 'undelivered', 'delivered', 'read'];
