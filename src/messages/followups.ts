/**
 * Follow-up messages: a new message linked to the one it follows (`parent_id`,
 * `relation`), carrying the parent's content — a new attempt after a transient
 * delivery failure, another provider, another channel. Each is its own message
 * with its own ledger, so a request already handed to a provider is never
 * repeated under the same message.
 */
import type { Queryable } from '../db/pool.js';
import type { MessageNames } from './names.js';

/** Why a message follows its parent. */
export type FollowUpRelation = 'window_fallback' | 'webhook_retry' | 'failover' | 'channel_fallback' | 'resend';

/** How many ancestors of a message (itself included) were created for `relation`. */
export async function chainCount(db: Queryable, names: MessageNames, id: string, relation: FollowUpRelation): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH RECURSIVE chain AS (
       SELECT id, parent_id, relation, 1 AS depth FROM ${names.messages} WHERE id = $1
       UNION ALL
       SELECT p.id, p.parent_id, p.relation, c.depth + 1 FROM ${names.messages} p JOIN chain c ON p.id = c.parent_id WHERE c.depth < 20)
     SELECT count(*) FILTER (WHERE relation = $2)::int AS n FROM chain`,
    [id, relation],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Copies a message as a follow-up (content from the message or its batch; the
 * batch's shared variables merged under its own), optionally on another channel,
 * recipient or provider. The follow-up joins the parent's batch, where it stands
 * for the parent's recipient from then on. Returns false when the parent is gone.
 */
export async function insertFollowUp(
  db: Queryable,
  names: MessageNames,
  f: { id: string; parentId: string; relation: FollowUpRelation; taskId: string; channel?: string; recipient?: string; provider?: string | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO ${names.messages} (id, channel, recipient, sender, subject, body, html, template, variables, media, media_items, fallback,
                                provider, task_id, parent_id, relation, expires_at, batch_id, email, quiet_hours)
     SELECT $1, coalesce($4, m.channel), coalesce($5, m.recipient), CASE WHEN $4 IS NULL THEN m.sender END,
            coalesce(m.subject, b.subject), m.body, m.html, coalesce(m.template, b.template),
            CASE WHEN b.variables IS NULL THEN m.variables ELSE b.variables || coalesce(m.variables, '{}'::jsonb) END,
            m.media, m.media_items, m.fallback, CASE WHEN $7 THEN $6 ELSE m.provider END, $8, m.id, $3, m.expires_at, m.batch_id,
            CASE WHEN $4 IS NULL THEN m.email END, m.quiet_hours
       -- A follow-up already holds its batch's content; only a batch's own message takes it from the batch.
       FROM ${names.messages} m LEFT JOIN ${names.batches} b ON b.id = m.batch_id AND m.parent_id IS NULL
      WHERE m.id = $2`,
    [f.id, f.parentId, f.relation, f.channel ?? null, f.recipient ?? null, f.provider ?? null, f.provider !== undefined, f.taskId],
  );
  return (rowCount ?? 0) > 0;
}

/** The follow-ups of a message (what it fell back to, was retried or resent as), oldest first. */
export async function selectFollowUps(db: Queryable, names: MessageNames, id: string): Promise<Array<{ id: string; relation: string | null }>> {
  const { rows } = await db.query<{ id: string; relation: string | null }>(`SELECT id, relation FROM ${names.messages} WHERE parent_id = $1 ORDER BY created_at, id`, [id]);
  return rows;
}
