/**
 * Reconciling an `unknown` message (a request that may have arrived) with its
 * provider: a lookup where the provider has one (Twilio by recipient and time,
 * Resend by its email id), else a re-post under the provider's idempotency key
 * while the provider still holds it (Resend: 24 h), which answers with the
 * original email's id or sends it now, never twice. Past that window the answer
 * is `expired`, not a guess.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { inTransaction } from '../db/pool.js';
import { NotFoundError, StateError } from '../errors.js';
import type { RateLimitSpec } from '../limits/rate-limiter.js';
import type { Gates } from './gates.js';
import type { MessageNames } from './names.js';
import { composeOutgoing, emailExtras } from './outgoing.js';
import { errorText, type MessageProvider, type SendResult } from './providers/provider.js';
import { redact } from './redact.js';
import { closeAttempt, insertManualEvent, type MessageRow, selectAttempts, selectMessage, selectSendState } from './store.js';
import type { UnsubscribeSettings } from './unsubscribe.js';
import { uuidOrNull } from './webhooks/body.js';

/**
 * What reconciling found out:
 * - `found`: the provider has the message (it received the ambiguous request); it is now `sent`.
 * - `sent`: the provider had not received it; the re-post under the same idempotency key sent it now; it is now `sent`.
 * - `not_found`: the provider has no such message; it stays `unknown` (`resend()` sends it again).
 * - `expired`: too long ago to ask without risking a second send (the provider's idempotency window has passed); it stays `unknown`.
 * - `unavailable`: the provider gave no usable answer now (network error, 5xx, 429, paused); it stays `unknown`; try again.
 * - `unsupported`: the provider cannot look messages up; it stays `unknown`.
 */
export type ReconcileOutcome = 'found' | 'sent' | 'not_found' | 'expired' | 'unavailable' | 'unsupported';

/** The answer of `courier.messages.reconcile()`. */
export interface ReconcileResult {
  /** What happened; see {@link ReconcileOutcome}. */
  outcome: ReconcileOutcome;
  /** The provider's id for the message (`found`, `sent`). */
  providerMessageId?: string;
  /** The provider's words or the reason (`expired`, `unavailable`, `unsupported`; the delivery event for `found` when known). */
  detail?: string;
}

/** What reconcile needs from the messaging module. */
export interface ReconcileDeps {
  pool: pg.Pool;
  names: MessageNames;
  logger: Logger;
  gates: Gates;
  provider(channel: string, name: string | null): MessageProvider | undefined;
  rate(provider: MessageProvider, channel: string): RateLimitSpec;
  unsubscribe(): UnsubscribeSettings | undefined;
  secrets(): string[];
}

/** Margin kept before the end of the provider's idempotency window: clocks differ, and the request took time. */
const WINDOW_MARGIN = 300;

/** Reconciles one `unknown` message; see {@link ReconcileOutcome}. */
export async function reconcileMessage(deps: ReconcileDeps, id: string): Promise<ReconcileResult> {
  const { pool, names } = deps;
  const uuid = uuidOrNull(id);
  const row = uuid ? await selectMessage(pool, names, uuid) : null;
  if (!row || !uuid) throw new NotFoundError(`message ${id} does not exist`);
  if (row.status !== 'unknown') throw new StateError(`message ${id} is ${row.status}; only unknown messages are reconciled`);
  const provider = row.provider ? deps.provider(row.channel, row.provider) : undefined;
  const attempts = await selectAttempts(pool, names, uuid);
  const last = attempts.at(-1);
  if (!provider || !last) return { outcome: 'unsupported', detail: provider ? 'no request was recorded' : `provider ${row.provider ?? '(none)'} is not configured in this process` };
  const clean = (text: string) => redact(text, deps.secrets()).slice(0, 2000);
  const note = (text: string) => insertManualEvent(pool, names, uuid, null, clean(text), false);
  const knownId = row.provider_message_id ?? attempts.findLast((a) => a.providerMessageId !== null)?.providerMessageId ?? null;

  if (provider.lookup) {
    const found = await provider.lookup({ id: uuid, channel: row.channel, to: row.recipient, from: row.sender, startedAt: last.startedAt, providerMessageId: knownId }, {});
    if (found && 'failed' in found) {
      await note(`reconcile: ${provider.name} did not answer the lookup: ${found.failed}`);
      return { outcome: 'unavailable', detail: clean(found.failed) };
    }
    if (found && !found.found) {
      await note(`reconcile: ${provider.name} has no such message`);
      return { outcome: 'not_found' };
    }
    if (found) {
      const event = found.lastEvent ? ` (last event: ${found.lastEvent})` : '';
      await markSent(deps, row, found.providerMessageId, `reconcile: ${provider.name} has it as ${found.providerMessageId}${event}`);
      return { outcome: 'found', providerMessageId: found.providerMessageId, ...(found.lastEvent ? { detail: `last event: ${found.lastEvent}` } : {}) };
    }
  }
  if (!provider.idempotencyWindow) return { outcome: 'unsupported', detail: `${provider.name} cannot look messages up` };
  return repost(deps, row, provider, provider.idempotencyWindow);
}

/** The idempotent re-post: the same request, under the same key, while the provider still holds the key. */
async function repost(deps: ReconcileDeps, row: MessageRow, provider: MessageProvider, window: number): Promise<ReconcileResult> {
  const { pool, names } = deps;
  const clean = (text: string) => redact(text, deps.secrets()).slice(0, 2000);
  const note = (text: string) => insertManualEvent(pool, names, row.id, null, clean(text), false);
  // Measured on the database's clock, from this provider's first request: the key may have been registered then.
  const { rows } = await pool.query<{ age: number | null }>(`SELECT extract(epoch FROM now() - min(started_at))::float8 AS age FROM ${names.attempts} WHERE message_id = $1 AND provider = $2`, [row.id, provider.name]);
  const age = rows[0]?.age ?? null;
  if (age === null) return { outcome: 'unsupported', detail: `no request to ${provider.name} was recorded` };
  if (age > window - WINDOW_MARGIN) {
    const detail = `the first request to ${provider.name} was ${(age / 3600).toFixed(1)} h ago; ${provider.name} keeps idempotency keys for ${window / 3600} h, so posting again could send a second copy. Check the provider's dashboard or webhooks, then resend() explicitly if it never arrived`;
    await note(`reconcile: ${detail}`);
    return { outcome: 'expired', detail };
  }
  const st = await selectSendState(pool, names, row.id, null);
  if (!st) throw new NotFoundError(`message ${row.id} does not exist`);
  // No WhatsApp window template here: no built-in WhatsApp provider has an idempotency window.
  const composed = composeOutgoing(st, null);
  if (!composed.ok) return { outcome: 'unsupported', detail: `its content no longer renders: ${composed.error}` };
  const out = composed.out;
  if (out.channel === 'email') out.email = emailExtras(row, provider.sender?.(out) ?? out.from ?? provider.name, deps.unsubscribe());
  const gateKey = provider.gateKey?.(out) ?? `${provider.name}:${row.channel}`;
  // The re-post may send: it waits for a slot under the provider's send rate, like the send task.
  const paused = await deps.gates.pausedFor(gateKey);
  if (paused > 0) return { outcome: 'unavailable', detail: `${provider.name} is paused for ${Math.ceil(paused)} s` };
  const slot = await deps.gates.acquire(gateKey, deps.rate(provider, row.channel));
  if (!slot.granted) return { outcome: 'unavailable', detail: `${provider.name}'s send rate is used up; try again in ${Math.ceil(slot.retryAfter)} s` };

  // A ledger entry like every request; the expected attempt count makes two concurrent reconciles post once.
  const { rows: opened } = await pool.query<{ n: number }>(
    `WITH m AS (
       UPDATE ${names.messages} SET attempts = attempts + 1, updated_at = now()
        WHERE id = $1 AND status = 'unknown' AND attempts = $3
       RETURNING id, attempts)
     INSERT INTO ${names.attempts} (message_id, n, task_id, task_attempt, provider)
     SELECT id, attempts, NULL, NULL, $2 FROM m
     RETURNING n`,
    [row.id, provider.name, row.attempts],
  );
  const n = opened[0]?.n;
  if (n === undefined) throw new StateError(`message ${row.id} changed while it was being reconciled; look at it again`);
  await slot.markStart();
  const before = Date.now();
  let result: SendResult;
  try {
    result = await provider.send(out, { signal: new AbortController().signal, logger: deps.logger.child({ messageId: row.id, reconcile: true }), attempt: n });
  } catch (err) {
    result = { outcome: 'ambiguous', code: 'exception', message: errorText(err) };
  }
  if (result.outcome !== 'ok') {
    const detail = clean(`${provider.name}${result.code ? ` ${result.code}` : ''}: ${result.message}`);
    await inTransaction(pool, async (db) => {
      await closeAttempt(db, names, { id: row.id, n, outcome: result.outcome, code: result.code ?? null, text: clean(result.message), providerMessageId: null, status: 'unknown' });
      await insertManualEvent(db, names, row.id, null, `reconcile: re-post under the idempotency key got no id: ${detail}`, false);
    });
    return { outcome: 'unavailable', detail };
  }
  // The reply to a repeat is the original reply: only the email's creation time tells a replay from a fresh send.
  const providerId = result.providerMessageId;
  const looked = provider.lookup ? await provider.lookup({ id: row.id, channel: row.channel, to: row.recipient, from: row.sender, startedAt: new Date(before), providerMessageId: providerId }, {}) : null;
  const createdAt = looked && 'found' in looked && looked.found ? looked.createdAt : undefined;
  const sentNow = createdAt === undefined ? null : createdAt.getTime() >= before;
  const text =
    sentNow === null
      ? `reconcile: ${provider.name} holds it as ${providerId}; whether it had the first request could not be checked (${looked && 'failed' in looked ? looked.failed : 'no creation time'})`
      : sentNow
        ? `reconcile: ${provider.name} had not received it; sent now as ${providerId} (created ${createdAt?.toISOString()})`
        : `reconcile: ${provider.name} had received it as ${providerId} (created ${createdAt?.toISOString()}); the re-post under its idempotency key sent nothing`;
  await inTransaction(pool, async (db) => {
    await closeAttempt(db, names, { id: row.id, n, outcome: 'ok', code: null, text: null, providerMessageId: providerId, status: 'sent' });
    await insertManualEvent(db, names, row.id, 'sent', clean(text), true);
  });
  return { outcome: sentNow ? 'sent' : 'found', providerMessageId: providerId, ...(sentNow === null ? { detail: clean(text.replace(/^reconcile: /, '')) } : {}) };
}

/** Marks an `unknown` message `sent` with the provider's id, with the event that says why, in one transaction. */
async function markSent(deps: ReconcileDeps, row: MessageRow, providerMessageId: string, note: string): Promise<void> {
  await inTransaction(deps.pool, async (db) => {
    await db.query(
      `UPDATE ${deps.names.messages} SET status = 'sent', provider_message_id = $2, error_code = NULL, error_text = NULL, sent_at = coalesce(sent_at, now()), updated_at = now()
        WHERE id = $1 AND status = 'unknown'`,
      [row.id, providerMessageId],
    );
    await insertManualEvent(db, deps.names, row.id, 'sent', note, true);
  });
}
