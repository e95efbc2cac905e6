/**
 * Bulk batches: one statement creates the batch, its messages and their send
 * tasks (10,000 recipients are one round trip), and progress is counted from the
 * messages' statuses in one snapshot, so the counts always sum to the total.
 * Follow-ups (fallbacks, failovers, delivery retries, resends) join their
 * parent's batch and replace it in the counts: each recipient counts once, as the
 * last message of its chain.
 */
import type { Queryable } from '../db/pool.js';
import type { MessageNames } from './names.js';
import { ACTIVE_STATUSES, COMPLETED_STATUSES } from './status.js';
import type { BatchProgress, MessageStatus } from './types.js';
import { MESSAGE_STATUSES } from './types.js';

/** Everything one bulk insert writes. */
export interface BulkRows {
  batchId: string;
  channel: string;
  provider: string | null;
  name: string | null;
  template: unknown;
  variables: unknown;
  subject: string | null;
  sender: string | null;
  expiresAt: Date | null;
  ids: string[];
  recipients: string[];
  /** Per-recipient variables as JSON text (or null). */
  recipientVariables: Array<string | null>;
  /** Per-recipient idempotency keys (or null). */
  idempotencyKeys: Array<string | null>;
  /** When the batch may start (null: now). */
  sendAt: Date | null;
  /** Per-recipient quiet hours as JSON text (or null). */
  quietHours: Array<string | null>;
  /** Per-recipient fallback as JSON text (or null). */
  fallbacks: Array<string | null>;
  task: { queue: string; name: string; priority: number; maxRetries: number; retryDelay: number; timeout: number | null };
}

/**
 * Inserts a batch, its messages and one send task per message in a single
 * statement. Recipients already suppressed on the channel (for every sender) are
 * stored as `failed` (error `suppressed`) and get no task, unless they have a
 * fallback (their send task fails them and creates it); recipients whose
 * idempotency key is already used are left out. Returns how many messages and
 * tasks were created.
 */
export async function insertBulk(db: Queryable, names: MessageNames, b: BulkRows): Promise<{ messages: number; tasks: number }> {
  const { rows } = await db.query<{ messages: number; tasks: number }>(
    `WITH input AS (
       SELECT v.id, v.recipient, v.vars, v.key, v.quiet, v.fallback, v.ord,
              -- With a fallback, the send task fails it instead, and the fallback follows.
              v.fallback IS NULL AND EXISTS (SELECT 1 FROM ${names.suppressions} x WHERE x.channel = $2 AND x.recipient = v.recipient AND x.sender = '') AS suppressed
         FROM unnest($10::uuid[], $11::text[], $12::jsonb[], $19::text[], $21::jsonb[], $22::jsonb[]) WITH ORDINALITY AS v(id, recipient, vars, key, quiet, fallback, ord)
        WHERE v.key IS NULL OR NOT EXISTS (SELECT 1 FROM ${names.messages} d WHERE d.idempotency_key = v.key)),
     batch AS (
       INSERT INTO ${names.batches} (id, channel, provider, name, template, variables, subject, total)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, (SELECT count(*) FROM input))
       RETURNING id),
     tasks AS (
       INSERT INTO ${names.tasks} (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at)
       SELECT $13, $14, jsonb_build_object('messageId', i.id), $15, $16, $17, $18, coalesce($20::timestamptz, now())
         FROM input i WHERE NOT i.suppressed ORDER BY i.ord
       RETURNING id, (payload->>'messageId')::uuid AS message_id),
     messages AS (
       INSERT INTO ${names.messages} (id, channel, recipient, sender, variables, provider, batch_id, task_id, expires_at,
                                  status, error_code, error_text, idempotency_key, send_at, quiet_hours, fallback)
       SELECT i.id, $2, i.recipient, $8, i.vars, $3, (SELECT id FROM batch), t.id, $9,
              CASE WHEN i.suppressed THEN 'failed' ELSE 'queued' END,
              CASE WHEN i.suppressed THEN 'suppressed' END,
              CASE WHEN i.suppressed THEN 'recipient is suppressed on this channel' END,
              i.key, $20::timestamptz, i.quiet, i.fallback
         FROM input i LEFT JOIN tasks t ON t.message_id = i.id
       -- A concurrent send took the key meanwhile: its task finds no message and ends.
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING 1)
     SELECT (SELECT count(*)::int FROM messages) AS messages, (SELECT count(*)::int FROM tasks) AS tasks`,
    [
      b.batchId,
      b.channel,
      b.provider,
      b.name,
      JSON.stringify(b.template),
      b.variables === null || b.variables === undefined ? null : JSON.stringify(b.variables),
      b.subject,
      b.sender,
      b.expiresAt,
      b.ids,
      b.recipients,
      b.recipientVariables,
      b.task.queue,
      b.task.name,
      b.task.priority,
      b.task.maxRetries,
      b.task.retryDelay,
      b.task.timeout,
      b.idempotencyKeys,
      b.sendAt,
      b.quietHours,
      b.fallbacks,
    ],
  );
  return rows[0] ?? { messages: 0, tasks: 0 };
}

interface BatchRow {
  id: string;
  channel: string;
  name: string | null;
  created_at: Date;
  counts: Record<string, number> | null;
}

const batchSelect = (names: MessageNames) =>
  `SELECT b.id, b.channel, b.name, b.created_at,
          (SELECT jsonb_object_agg(c.status, c.n)
             FROM (SELECT m.status, count(*) AS n FROM ${names.messages} m
                    WHERE m.batch_id = b.id
                      -- A message followed up in the batch (fallback, failover, retry, resend) counts as its follow-up.
                      AND NOT EXISTS (SELECT 1 FROM ${names.messages} f WHERE f.parent_id = m.id AND f.batch_id = b.id)
                    GROUP BY m.status) c) AS counts
     FROM ${names.batches} b`;

/** Turns status counts into progress: completed + failed + active = total. */
export function toProgress(row: { id: string; channel: string; name: string | null; createdAt: Date; counts: Partial<Record<string, number>> }): BatchProgress {
  const byStatus = Object.fromEntries(MESSAGE_STATUSES.map((st) => [st, Number(row.counts[st] ?? 0)])) as Record<MessageStatus, number>;
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const completed = COMPLETED_STATUSES.reduce((a, st) => a + byStatus[st], 0);
  const active = ACTIVE_STATUSES.reduce((a, st) => a + byStatus[st], 0);
  const failed = total - completed - active;
  const progress = total === 0 ? 100 : Math.floor(((completed + failed) * 100) / total);
  return { id: row.id, channel: row.channel, name: row.name, total, completed, failed, active, progress, byStatus, createdAt: row.createdAt };
}

const fromRow = (r: BatchRow) => toProgress({ id: r.id, channel: r.channel, name: r.name, createdAt: r.created_at, counts: r.counts ?? {} });

/** Progress of one batch, or `null`. */
export async function selectBatch(db: Queryable, names: MessageNames, id: string): Promise<BatchProgress | null> {
  const { rows } = await db.query<BatchRow>(`${batchSelect(names)} WHERE b.id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Newest batches first, with progress. */
export async function selectBatches(db: Queryable, names: MessageNames, limit: number, before: Date | null): Promise<BatchProgress[]> {
  const { rows } = await db.query<BatchRow>(`${batchSelect(names)} WHERE ($2::timestamptz IS NULL OR b.created_at < $2) ORDER BY b.created_at DESC, b.id DESC LIMIT $1`, [limit, before]);
  return rows.map(fromRow);
}
