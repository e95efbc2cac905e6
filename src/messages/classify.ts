/**
 * Pure classification of provider answers into outcome classes, by the provider's
 * error code first and the HTTP status only as a fallback. No I/O here; each
 * function is unit-tested with the providers' documented codes.
 */
import type { OutcomeClass } from './types.js';

/** A classified provider answer that is not a success. */
export interface Classified {
  /** The outcome class. */
  outcome: Exclude<OutcomeClass, 'ok'>;
  /** Provider error code, as text (`21610`, `131047`, `550 5.1.1`, `rate_limit_exceeded`). */
  code: string | null;
  /** Short description. */
  message: string;
  /** Seconds to wait before the next try (`rate_limited`, `config`), when known. */
  retryAfter?: number;
  /** For `rate_limited`: false when the limit concerns only this recipient (pause nothing else). */
  pauseGate?: boolean;
  /** For `permanent_recipient`: `pair` when only this sender may not reach the recipient (default `recipient`: no sender may). */
  suppress?: 'recipient' | 'pair';
}

/**
 * Parses a `Retry-After` value: delta-seconds or an HTTP-date (RFC 9110). Returns
 * seconds from `now` (never negative), or `null` when absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, (at - now) / 1000);
}

// ---------------------------------------------------------------- Twilio

/** Twilio codes whose recipient can never be reached on this channel, from any sender (suppressed). */
export const TWILIO_RECIPIENT_CODES = new Set([21211, 21614, 21635, 30005, 30006]);
/** Twilio codes about this recipient and this sender only (the pair is suppressed: STOP, a block). */
export const TWILIO_PAIR_CODES = new Set([21610, 30004, 63014]);
// Our account, credentials or sender are wrong: every message through this gate would fail alike.
const TWILIO_CONFIG_CODES = new Set([20003, 20404, 21212, 21603, 21606, 21659, 30002, 30034, 63007]);
// This message (or its To/From pair, or its region) cannot go: fail it, pause nothing, suppress nobody.
const TWILIO_PERMANENT_CODES = new Set([21408, 21602, 21604, 21608, 21612, 21617, 21619, 21620, 21656, 30007, 30010, 63013, 63016, 63021]);
// Capacity: the sender's queue is full (21611, more than 10 hours of messages) or a daily cap is reached (63038).
const TWILIO_CAPACITY_CODES = new Map([
  [21611, 3600],
  [63017, 600],
  [63038, 6 * 3600],
]);
const TWILIO_RETRY_CODES = new Set([30001, 30003, 30008]);

/** Twilio codes that mean "the 24-hour WhatsApp window is closed; send a template". */
export const TWILIO_WINDOW_CODES = new Set([63016]);

/**
 * Classifies a Twilio error (a REST reply or a status callback's `ErrorCode`).
 * `status` is the HTTP status of a REST reply (0 for a callback).
 */
export function classifyTwilio(input: { status: number; code?: number | null; message?: string | null; retryAfter?: string | null }, now = Date.now()): Classified {
  const code = input.code ?? null;
  const text = (input.message ?? '').slice(0, 500) || `HTTP ${input.status}`;
  const codeText = code === null ? (input.status ? String(input.status) : null) : String(code);
  const hinted = parseRetryAfter(input.retryAfter, now);
  if (code === 20429 || input.status === 429 || code === 63018) {
    return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? (code === 63018 ? 10 : 1) };
  }
  if (code !== null) {
    const capacity = TWILIO_CAPACITY_CODES.get(code);
    if (capacity !== undefined) return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? capacity };
    if (TWILIO_RECIPIENT_CODES.has(code)) return { outcome: 'permanent_recipient', code: codeText, message: text };
    if (TWILIO_PAIR_CODES.has(code)) return { outcome: 'permanent_recipient', code: codeText, message: text, suppress: 'pair' };
    if (TWILIO_CONFIG_CODES.has(code)) return { outcome: 'config', code: codeText, message: text };
    if (TWILIO_PERMANENT_CODES.has(code)) return { outcome: 'permanent', code: codeText, message: text };
    if (TWILIO_RETRY_CODES.has(code)) return { outcome: 'retry', code: codeText, message: text };
    // 20500 and other server errors on a create: Twilio says it is not idempotent.
    if (code === 20500 || code === 20503) return { outcome: 'ambiguous', code: codeText, message: text };
  }
  if (input.status === 401 || input.status === 403) return { outcome: 'config', code: codeText, message: text };
  if (input.status >= 500) return { outcome: 'ambiguous', code: codeText, message: text };
  if (input.status >= 400) return { outcome: 'permanent', code: codeText, message: text };
  return { outcome: 'retry', code: codeText, message: text };
}

// ---------------------------------------------------------------- Meta WhatsApp Cloud API

const META_CONFIG_CODES = new Set([0, 3, 10, 190, 368, 131031, 131042, 133010, 131045]);
const META_RETRY_CODES = new Set([1, 2, 131000, 131016, 133004, 131057]);
const META_RECIPIENT_CODES = new Set([131026, 131021]);
// 131050: the user stopped marketing messages from this business number.
const META_PAIR_CODES = new Set([131050]);
/** Meta codes that mean "the 24-hour window is closed; send a template". */
export const META_WINDOW_CODES = new Set([131047]);

/**
 * Classifies a WhatsApp Cloud API error (`{ error: { code, error_subcode, message } }`
 * of a reply, or `statuses[].errors[]` of a webhook). `status` is the HTTP status (0
 * for a webhook). Branches on `code`, as Meta asks.
 */
export function classifyMeta(input: { status: number; code?: number | null; message?: string | null; retryAfter?: string | null }, now = Date.now()): Classified {
  const code = input.code ?? null;
  const text = (input.message ?? '').slice(0, 500) || `HTTP ${input.status}`;
  const codeText = code === null ? (input.status ? String(input.status) : null) : String(code);
  const hinted = parseRetryAfter(input.retryAfter, now);
  if (code !== null) {
    if (code === 130429) return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? 1 };
    if (code === 131056) return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? 6, pauseGate: false };
    if (code === 4 || code === 80007 || code === 131048) {
      return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? (code === 4 ? 60 : 3600) };
    }
    if (code >= 200 && code <= 299) return { outcome: 'config', code: codeText, message: text };
    if (META_CONFIG_CODES.has(code)) return { outcome: 'config', code: codeText, message: text };
    if (META_RETRY_CODES.has(code)) return { outcome: 'retry', code: codeText, message: text };
    if (META_RECIPIENT_CODES.has(code)) return { outcome: 'permanent_recipient', code: codeText, message: text };
    if (META_PAIR_CODES.has(code)) return { outcome: 'permanent_recipient', code: codeText, message: text, suppress: 'pair' };
    if (code === 100 || (code >= 131000 && code < 134000)) return { outcome: 'permanent', code: codeText, message: text };
  }
  if (input.status === 429) return { outcome: 'rate_limited', code: codeText, message: text, retryAfter: hinted ?? 1 };
  if (input.status === 401 || input.status === 403) return { outcome: 'config', code: codeText, message: text };
  if (input.status >= 500) return { outcome: 'ambiguous', code: codeText, message: text };
  if (input.status >= 400) return { outcome: 'permanent', code: codeText, message: text };
  return { outcome: 'retry', code: codeText, message: text };
}

// ---------------------------------------------------------------- Resend

/**
 * Classifies a Resend error reply (`{ statusCode, name, message }`). Resend takes
 * an idempotency key, so server errors are safe to retry.
 */
export function classifyResend(input: { status: number; name?: string | null; message?: string | null; retryAfter?: string | null }, now = Date.now()): Classified {
  const name = input.name ?? null;
  const text = (input.message ?? '').slice(0, 500) || `HTTP ${input.status}`;
  const code = name ?? String(input.status);
  const hinted = parseRetryAfter(input.retryAfter, now);
  switch (name) {
    case 'rate_limit_exceeded':
      return { outcome: 'rate_limited', code, message: text, retryAfter: hinted ?? 1 };
    case 'daily_quota_exceeded':
      return { outcome: 'rate_limited', code, message: text, retryAfter: hinted ?? 3600 };
    case 'monthly_quota_exceeded':
      return { outcome: 'rate_limited', code, message: text, retryAfter: hinted ?? 6 * 3600 };
    case 'missing_api_key':
    case 'restricted_api_key':
    case 'invalid_api_key':
      return { outcome: 'config', code, message: text };
    case 'concurrent_idempotent_requests':
      return { outcome: 'retry', code, message: text };
    case 'application_error':
    case 'internal_server_error':
      return { outcome: 'retry', code, message: text };
    case 'validation_error':
      return { outcome: input.status === 403 ? 'config' : 'permanent', code, message: text };
    default:
      break;
  }
  if (input.status === 429) return { outcome: 'rate_limited', code, message: text, retryAfter: hinted ?? 1 };
  if (input.status === 401 || input.status === 403) return { outcome: 'config', code, message: text };
  if (input.status >= 500) return { outcome: 'retry', code, message: text };
  if (input.status >= 400) return { outcome: 'permanent', code, message: text };
  return { outcome: 'retry', code, message: text };
}

// ---------------------------------------------------------------- SMTP

/** The fields of a nodemailer error that classification reads. */
export interface SmtpErrorLike {
  code?: string;
  responseCode?: number;
  command?: string;
  response?: string;
  message?: string;
}

const SMTP_CONFIG_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'EREQUIRETLS', 'ECONFIG', 'ETLS']);
const CERT_ERROR = /certificate|self[- ]signed|unable to verify|CERT_|wrong version number|alert/i;
const QUOTA_TEXT = /quota|limit exceeded|sending limit|rate limit|too many (messages|emails|recipients)|throttl/i;

/** The enhanced status code (`5.1.1`) of an SMTP reply, or `null`. */
export function enhancedCode(response: string | undefined): string | null {
  const m = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(response ?? '');
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

/** The SMTP command a reply answered: the stage of the transaction. */
export type SmtpStage = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data';

/** The stage of a nodemailer error, from its `command` (`MAIL FROM`, `RCPT TO`, `DATA`…). */
export function smtpStage(command: string | undefined): SmtpStage {
  const c = (command ?? '').toUpperCase();
  if (c.startsWith('MAIL')) return 'mail';
  if (c.startsWith('RCPT')) return 'rcpt';
  if (c === 'DATA' || c === 'BDAT' || c === 'MESSAGE') return 'data';
  if (c.startsWith('AUTH')) return 'auth';
  return 'connect';
}

// RFC 3463 subject.detail codes that say "this mailbox" is bad: bad destination mailbox
// (X.1.1), system (X.1.2), syntax (X.1.3), moved (X.1.6), no mail accepted (X.1.10, RFC 7505),
// mailbox disabled (X.2.1).
const RECIPIENT_DETAILS = new Set(['1.1', '1.2', '1.3', '1.6', '1.10', '2.1']);
// X.1.7 bad sender's mailbox syntax, X.1.8 bad sender's system address (RFC 3463).
const SENDER_DETAILS = new Set(['1.7', '1.8']);

/**
 * Classifies a nodemailer error by the SMTP stage (`MAIL`, `RCPT`, `DATA`) and the
 * RFC 3463 enhanced code:
 * - authentication and TLS failures: `config`;
 * - quota replies (X.4.5, or a limit named in the text): `rate_limited`;
 * - 4xx: `retry`;
 * - X.1.7 / X.1.8 (our sender address) and X.7.x security or policy (relay denied,
 *   IP blocklisted, DMARC) at any stage, and any 5xx to `MAIL FROM`: `config`
 *   (never the recipient's fault); except 5.7.1 to `DATA`, which refuses this one
 *   message's content: `permanent`;
 * - 5xx to `RCPT TO` with a mailbox code (X.1.1, X.1.2, X.1.3, X.1.6, X.1.10, X.2.1),
 *   or 550/551/553 without an enhanced code: `permanent_recipient` (suppressed);
 * - other 5xx: `permanent`.
 *
 * A connection lost after the server accepted DATA (`stage.afterData`: it said 354
 * and the body went out) is ambiguous; lost before that, it is a plain retry.
 */
export function classifySmtp(err: SmtpErrorLike, stage: { afterData?: boolean } = {}): Classified {
  const reply = err.responseCode;
  const enhanced = enhancedCode(err.response);
  const text = (err.response || err.message || 'SMTP error').slice(0, 500);
  const code = reply ? `${reply}${enhanced ? ` ${enhanced}` : ''}` : (err.code ?? null);
  const command = (err.command ?? '').toUpperCase();
  const at = smtpStage(err.command);
  const detail = enhanced ? enhanced.slice(enhanced.indexOf('.') + 1) : null;
  if (reply) {
    if (reply === 535 || reply === 530 || reply === 534 || (reply === 454 && /auth|login/i.test(text))) return { outcome: 'config', code, message: text };
    if (detail === '4.5' || (detail?.startsWith('7.') && QUOTA_TEXT.test(text))) {
      return { outcome: 'rate_limited', code, message: text, retryAfter: 3600 };
    }
    if (reply >= 400 && reply < 500) {
      if (QUOTA_TEXT.test(text)) return { outcome: 'rate_limited', code, message: text, retryAfter: 60 };
      return { outcome: 'retry', code, message: text };
    }
    if (reply === 503) return { outcome: 'retry', code, message: text };
    if (reply >= 500) {
      if (detail && SENDER_DETAILS.has(detail)) return { outcome: 'config', code, message: text };
      if (detail?.startsWith('7.')) return { outcome: at === 'data' && detail === '7.1' ? 'permanent' : 'config', code, message: text };
      if (at === 'mail') return { outcome: 'config', code, message: text };
      if (at === 'rcpt') {
        if (detail ? RECIPIENT_DETAILS.has(detail) : reply === 550 || reply === 551 || reply === 553) return { outcome: 'permanent_recipient', code, message: text };
      }
      return { outcome: 'permanent', code, message: text };
    }
  }
  if (err.code && SMTP_CONFIG_CODES.has(err.code)) return { outcome: 'config', code, message: text };
  if ((err.code === 'ESOCKET' || err.code === 'ECONNECTION') && CERT_ERROR.test(err.message ?? '')) return { outcome: 'config', code, message: text };
  if (err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'ETIMEDOUT' || err.code === 'EABORT') {
    // Lost after the server said 354 and the body went out, before its final reply: maybe delivered.
    if (stage.afterData || command === 'DATA' || command === 'BDAT') return { outcome: 'ambiguous', code, message: text };
    return { outcome: 'retry', code, message: text };
  }
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') return { outcome: 'permanent', code, message: text };
  return { outcome: 'retry', code, message: text };
}
