import type { Logger } from 'pino';
import type { RateLimitSpec } from '../../limits/rate-limiter.js';
import type { AmbiguityPolicy, Channel, ContentTemplate, EmailAttachment, MediaItem, OutcomeClass, TemplateVariables, WhatsAppTemplate } from '../types.js';

/** A message ready for a provider: content rendered, sender resolved. */
export interface OutgoingMessage {
  /** Our message id (a UUID); use it for idempotency keys and correlation. */
  id: string;
  /** Channel it goes out on. */
  channel: Channel;
  /** Recipient as stored (an email address or an E.164 number). */
  to: string;
  /** Sender override from the message, or `null` for the provider's default. */
  from: string | null;
  /** Subject (email). */
  subject: string | null;
  /** Rendered text body. */
  text: string | null;
  /** Rendered HTML body (email). */
  html: string | null;
  /** Provider template, when the message names one; its parameters are `variables`. */
  template: WhatsAppTemplate | ContentTemplate | null;
  /** Variables for a provider template. */
  variables: TemplateVariables;
  /** Media URLs. */
  media: string[];
  /** The same media with their content types and file names, when given. */
  mediaItems: MediaItem[];
  /** Deadline, if any. */
  expiresAt: Date | null;
  /** Email options (reply-to, copies, headers — `List-Unsubscribe` included —, attachments); `null` on other channels. */
  email: EmailExtras | null;
}

/** Email options of an outgoing message. */
export interface EmailExtras {
  /** `Reply-To` address. */
  replyTo?: string;
  /** Copy recipients. */
  cc?: string[];
  /** Blind copy recipients. */
  bcc?: string[];
  /** Extra headers, `List-Unsubscribe` and `List-Unsubscribe-Post` included when they apply. */
  headers: Record<string, string>;
  /** Files, base64. */
  attachments?: EmailAttachment[];
}

/** What a provider's `send` receives besides the message. */
export interface ProviderContext {
  /** Aborts when the task times out, is cancelled or the worker stops. */
  signal: AbortSignal;
  /** Logger bound to the send task. */
  logger: Logger;
  /** 1 for the first request of this message, 2 for the next, and so on. */
  attempt: number;
}

/** The result of one provider request. */
export type SendResult =
  | {
      outcome: 'ok';
      /** The provider's id for the message. */
      providerMessageId: string;
    }
  | {
      outcome: Exclude<OutcomeClass, 'ok'>;
      /** Provider error code, if any. */
      code?: string | null;
      /** Short description (secrets are redacted before it is stored or logged). */
      message: string;
      /** Seconds to wait (`rate_limited`, `config`), when the provider said. */
      retryAfter?: number;
      /** For `rate_limited`: `false` when only this recipient is limited (the provider is not paused). */
      pauseGate?: boolean;
      /** For `permanent_recipient`: `'pair'` suppresses the recipient for this sender only (default `'recipient'`: for every sender). */
      suppress?: 'recipient' | 'pair';
    };

/**
 * A way to send messages: the extension point behind `registerProvider`. Built-in
 * providers are `smtp`, `resend`, `twilio` and `meta`.
 *
 * @example
 * ```ts
 * courier.messages.registerProvider({
 *   name: 'telegram',
 *   channels: ['telegram'],
 *   rateLimit: '30/s',
 *   async send(message, ctx) {
 *     const res = await fetch(`https://api.telegram.org/bot${token}/sendMessage`, {
 *       method: 'POST',
 *       headers: { 'content-type': 'application/json' },
 *       body: JSON.stringify({ chat_id: message.to, text: message.text }),
 *       signal: ctx.signal,
 *     });
 *     const body = await res.json();
 *     if (body.ok) return { outcome: 'ok', providerMessageId: String(body.result.message_id) };
 *     if (res.status === 429) return { outcome: 'rate_limited', message: body.description, retryAfter: body.parameters?.retry_after };
 *     return { outcome: res.status >= 500 ? 'retry' : 'permanent', code: String(body.error_code), message: body.description };
 *   },
 * });
 * ```
 */
export interface MessageProvider {
  /** Unique name, stored on each message it sends. */
  readonly name: string;
  /** Channels it can send on. */
  readonly channels: readonly Channel[];
  /** Send rate across all processes (default: the channel's). */
  readonly rateLimit?: RateLimitSpec;
  /** What to do with "maybe sent" (default `'unknown'`: do not resend). */
  readonly ambiguous?: AmbiguityPolicy;
  /** Values that must never appear in logs or stored errors (tokens, passwords). */
  readonly secrets?: readonly string[];
  /**
   * Scope of the rate limit and pause for a message, e.g. `twilio:sms:AC…:+1555…`
   * (default: the provider's name and channel).
   */
  gateKey?(message: OutgoingMessage): string;
  /**
   * The sending identity the recipient sees (a number, a messaging service, an
   * address), which scopes per-sender suppressions such as a STOP (default:
   * `message.from`, else the provider's name).
   */
  sender?(message: OutgoingMessage): string;
  /**
   * Checks content this provider cannot send (a template of another provider's
   * kind, several WhatsApp media): returns what is wrong, or `null`. Called by
   * `send()` (a `ValidationError`) and again before each send (the message fails).
   */
  validate?(message: Pick<OutgoingMessage, 'channel' | 'template' | 'text' | 'media' | 'mediaItems'>): string | null;
  /** Sends one message; must not throw for provider errors (return a class instead). */
  send(message: OutgoingMessage, ctx: ProviderContext): Promise<SendResult>;
  /**
   * Looks a message up at the provider after an ambiguous request (status
   * `unknown`): `found` with the provider's id when it was accepted (and, when the
   * provider says, when it created it and its latest delivery event), `found:
   * false` when the provider has no such message, `null` when it cannot tell
   * (for example no id is known and the provider has no search). `failed` when the
   * provider did not answer usably (network error, 5xx, 429). Used by
   * `courier.messages.reconcile()`.
   */
  lookup?(
    message: {
      id: string;
      channel: Channel;
      to: string;
      from: string | null;
      startedAt: Date;
      /** The provider's id for the message, when one is known (a ledger entry or a webhook recorded it). */
      providerMessageId: string | null;
    },
    ctx: { signal?: AbortSignal },
  ): Promise<{ found: true; providerMessageId: string; createdAt?: Date; lastEvent?: string } | { found: false } | { failed: string } | null>;
  /**
   * Seconds during which `send()` is idempotent per message id (the provider
   * deduplicates requests by a key derived from it and answers a repeat with the
   * original message's id). `courier.messages.reconcile()` re-posts an `unknown`
   * message inside this window to learn what happened; past it, it answers
   * `expired` instead of risking a second send. Resend: 86 400 (24 h).
   */
  readonly idempotencyWindow?: number;
  /** Releases connections (SMTP pools); called by `courier.messages.close()`. */
  close?(): Promise<void> | void;
}

/** Turns a thrown error's text into a one-line description. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
