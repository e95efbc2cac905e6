import type { RateLimitSpec } from '../limits/rate-limiter.js';
import type { Channel } from './types.js';

/**
 * A channel: the extension point behind `registerChannel`. A channel names how
 * recipients look and which provider sends on it by default; `manual` channels are
 * tracked, not sent.
 *
 * @example
 * ```ts
 * courier.messages.registerChannel({
 *   name: 'telegram',
 *   provider: 'telegram',
 *   rateLimit: '30/s',
 *   normalize: (to) => (/^-?\d{1,20}$/.test(to) ? to : null), // a chat id
 * });
 * ```
 */
export interface ChannelDefinition {
  /** Channel name (lower-case letters, digits, `_`). */
  name: Channel;
  /** Tracked, not sent: messages are recorded and updated by hand (voice, in-person). */
  manual?: boolean;
  /** Provider used when a message names none (default: the first registered for the channel). */
  provider?: string;
  /** Default send rate of the channel's providers. */
  rateLimit?: RateLimitSpec;
  /**
   * Normalises a recipient (the form stored and used for suppressions), or returns
   * `null` when it is not a valid recipient on this channel.
   */
  normalize?(recipient: string): string | null;
}

const EMAIL = /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+\.[^\s@<>(),;:"[\]\\]+$/;

/** An email address, trimmed and lower-cased, or `null`. */
export function normalizeEmail(value: string): string | null {
  const v = value.trim().toLowerCase();
  return v.length <= 320 && EMAIL.test(v) ? v : null;
}

/** An E.164 number (`+15551234567`) with spaces, dashes, dots, parentheses and a `whatsapp:` prefix removed, or `null`. */
export function normalizePhone(value: string): string | null {
  const v = value.trim().replace(/^whatsapp:/i, '').replace(/[\s().-]/g, '');
  return /^\+[1-9]\d{6,14}$/.test(v) ? v : null;
}

/** The channels pgcourier defines. */
export function builtinChannels(): ChannelDefinition[] {
  const free = (v: string) => {
    const t = v.trim();
    return t.length > 0 && t.length <= 320 ? t : null;
  };
  return [
    { name: 'email', normalize: normalizeEmail },
    { name: 'sms', normalize: normalizePhone },
    { name: 'whatsapp', normalize: normalizePhone },
    { name: 'voice', manual: true, normalize: (v) => normalizePhone(v) ?? free(v) },
    { name: 'in_person', manual: true, normalize: free },
  ];
}

/** The address part of `"Name <a@b>"` (or the text itself), lower-cased. */
export function addressOf(from: string): string {
  return (/<([^>]+)>/.exec(from)?.[1] ?? from).trim().toLowerCase();
}
