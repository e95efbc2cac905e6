/**
 * Inbound messages from customers: the opt-out, opt-in and help keywords carriers
 * and Twilio's default Advanced Opt-Out recognise, and the 24-hour WhatsApp window
 * an inbound message opens.
 */

/** What an inbound message asks for. */
export type InboundKeyword = 'stop' | 'start' | 'help';

// Twilio's default opt-out, opt-in and help keywords (Advanced Opt-Out), which follow the CTIA's.
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
const START = new Set(['START', 'YES', 'UNSTOP']);
const HELP = new Set(['HELP', 'INFO']);

/**
 * The keyword of an inbound message: a single keyword (any case, spaces and
 * trailing punctuation ignored), or Twilio's `OptOutType` (STOP / START / HELP)
 * when its Advanced Opt-Out already decided.
 */
export function inboundKeyword(body: string | null, optOutType: string | null = null): InboundKeyword | null {
  const type = optOutType?.trim().toUpperCase();
  if (type === 'STOP') return 'stop';
  if (type === 'START') return 'start';
  if (type === 'HELP') return 'help';
  const word = (body ?? '').trim().replace(/[.!]+$/, '').toUpperCase();
  if (STOP.has(word)) return 'stop';
  if (START.has(word)) return 'start';
  if (HELP.has(word)) return 'help';
  return null;
}

/** Seconds a WhatsApp customer-service window stays open after the customer's last message. */
export const WHATSAPP_WINDOW = 24 * 3600;
