import type { MessageStatus } from './types.js';

/**
 * Rank of each status; a status may replace another only with a higher rank.
 * Mirrors `message_status_rank()` in migrations/020_messages.sql.
 */
export const STATUS_RANK: Readonly<Record<MessageStatus, number>> = {
  queued: 0,
  pending: 1,
  sending: 2,
  unknown: 3,
  sent: 4,
  failed: 5,
  undelivered: 5,
  delivered: 6,
  read: 7,
};

/** Whether a message in `from` may move to `to` on an external event (webhook, manual update). */
export function canAdvance(from: MessageStatus, to: MessageStatus): boolean {
  return STATUS_RANK[to] > STATUS_RANK[from];
}

/** Statuses a send task is still working on. */
export const ACTIVE_STATUSES: readonly MessageStatus[] = ['queued', 'pending', 'sending'];
/** Statuses that count as a successful send. */
export const COMPLETED_STATUSES: readonly MessageStatus[] = ['sent', 'delivered', 'read'];
/** Statuses that end a message without confirmed success. */
export const FAILED_STATUSES: readonly MessageStatus[] = ['failed', 'undelivered', 'unknown'];

/**
 * Maps a Twilio `MessageStatus` (REST reply or status callback) to ours, or `null`
 * for statuses that say nothing about an outbound message (`receiving`…).
 */
export function fromTwilioStatus(status: string): MessageStatus | null {
  switch (status) {
    case 'accepted':
    case 'scheduled':
    case 'queued':
    case 'sending':
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'partially_delivered':
      return 'delivered';
    case 'read':
      return 'read';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return null;
  }
}

/** Maps a WhatsApp Cloud API status (`statuses[].status`) to ours, or `null`. */
export function fromMetaStatus(status: string): MessageStatus | null {
  switch (status) {
    case 'sent':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'read':
    case 'played':
      return 'read';
    case 'failed':
      return 'failed';
    default:
      return null;
  }
}
