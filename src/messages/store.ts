/**
 * SQL of the message store. Each statement is one function named after what it
 * does; `names` are the quoted table names (names.ts). Status changes from outside (webhooks, manual
 * updates) go through `message_status_rank()`, so they only ever move forward.
 */
import type { Queryable } from '../db/pool.js';
import type { MessageNames } from './names.js';
import type { QuietHours } from './quiet.js';
import type { EmailAttachment, MediaItem, MessageAttempt, MessageEvent, MessageInfo, MessageStatus, OutcomeClass } from './types.js';

/** A row of `messages`. */
export interface MessageRow {
  id: string;
  channel: string;
  recipient: string;
  sender: string | null;
  subject: string | null;
  body: string | null;
  html: string | null;
  template: unknown;
  variables: Record<string, string | number | boolean | null> | null;
  media: string[] | null;
  media_items: MediaItem[] | null;
  email: StoredEmailOptions | null;
  send_at: Date | null;
  quiet_hours: QuietHours | null;
  fallback: unknown;
  relation: string | null;
  idempotency_key: string | null;
  status: MessageStatus;
  provider: string | null;
  provider_message_id: string | null;
  error_code: string | null;
  error_text: string | null;
  attempts: number;
  batch_id: string | null;
  task_id: string | null;
  parent_id: string | null;
  expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  read_at: Date | null;
}

/** Columns written when a message is created. */
export interface NewMessage {
  id: string;
  channel: string;
  recipient: string;
  sender: string | null;
  subject: string | null;
  body: string | null;
  html: string | null;
  template: unknown;
  variables: unknown;
  media: string[] | null;
  mediaItems?: MediaItem[] | null;
  email?: StoredEmailOptions | null;
  sendAt?: Date | null;
  quietHours?: QuietHours | null;
  fallback: unknown;
  provider: string | null;
  batchId: string | null;
  taskId: string | null;
  parentId: string | null;
  relation?: string | null;
  idempotencyKey?: string | null;
  expiresAt: Date | null;
  status?: MessageStatus;
}

/** Email options as stored on a message. */
export interface StoredEmailOptions {
  replyTo?: string;
  cc?: string[];
  bcc?: string[];
  headers?: Record<string, string>;
  attachments?: EmailAttachment[];
  unsubscribe?: boolean;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * Inserts one message. With an idempotency key already used, inserts nothing and
 * returns the existing message's id (waiting for a concurrent insert of the same
 * key to commit or roll back); otherwise returns `null`.
 */
export async function insertMessage(db: Queryable, names: MessageNames, m: NewMessage): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${names.messages} (id, channel, recipient, sender, subject, body, html, template, variables, media, fallback,
                                provider, batch_id, task_id, parent_id, expires_at, status, media_items, relation, idempotency_key, email, send_at, quiet_hours)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::text[], $11::jsonb, $12, $13, $14, $15, $16, $17, $18::jsonb, $19, $20, $21::jsonb, $22, $23::jsonb)
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id`,
    [
      m.id,
      m.channel,
      m.recipient,
      m.sender,
      m.subject,
      m.body,
      m.html,
      json(m.template),
      json(m.variables),
      m.media,
      json(m.fallback),
      m.provider,
      m.batchId,
      m.taskId,
      m.parentId,
      m.expiresAt,
      m.status ?? 'queued',
      json(m.mediaItems),
      m.relation ?? null,
      m.idempotencyKey ?? null,
      json(m.email),
      m.sendAt ?? null,
      json(m.quietHours),
    ],
  );
  if (rows.length > 0 || !m.idempotencyKey) return null;
  const existing = await db.query<{ id: string }>(`SELECT id FROM ${names.messages} WHERE idempotency_key = $1`, [m.idempotencyKey]);
  return existing.rows[0]?.id ?? null;
}

/** Turns a row into the public shape. */
export function toMessageInfo(r: MessageRow): MessageInfo {
  return {
    id: r.id,
    channel: r.channel,
    to: r.recipient,
    from: r.sender,
    status: r.status,
    provider: r.provider,
    providerMessageId: r.provider_message_id,
    error: r.error_code === null && r.error_text === null ? null : { code: r.error_code, message: r.error_text ?? '' },
    attempts: r.attempts,
    batchId: r.batch_id,
    taskId: r.task_id === null ? null : String(r.task_id),
    parentId: r.parent_id,
    relation: r.relation,
    followUps: [],
    idempotencyKey: r.idempotency_key,
    subject: r.subject,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    sentAt: r.sent_at,
    deliveredAt: r.delivered_at,
  };
}

/** Reads one message. */
export async function selectMessage(db: Queryable, names: MessageNames, id: string): Promise<MessageRow | null> {
  const { rows } = await db.query<MessageRow>(`SELECT * FROM ${names.messages} WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** What the send task reads before it sends. */
export interface SendState {
  message: MessageRow;
  batchTemplate: unknown;
  batchVariables: unknown;
  batchSubject: string | null;
  /** Ledger entries a previous attempt left open: the process died mid-request. */
  openAttempts: number;
  /** Senders the recipient is suppressed for on this channel (`''`: every sender). */
  suppressedFor: string[];
  /** Counted (non-deferred) attempts of the task, this one included, and its retry budget. */
  counted: number | null;
  maxRetries: number | null;
}

/** Loads a message with its batch content, open ledger entries, suppression and the task's retry budget. */
export async function selectSendState(db: Queryable, names: MessageNames, id: string, taskId: string | null): Promise<SendState | null> {
  const { rows } = await db.query<MessageRow & { batch_template: unknown; batch_variables: unknown; batch_subject: string | null; open_attempts: number; suppressed_for: string[]; counted: number | null; max_retries_: number | null }>(
    `SELECT m.*, b.template AS batch_template, b.variables AS batch_variables, b.subject AS batch_subject,
            (SELECT count(*)::int FROM ${names.attempts} a WHERE a.message_id = m.id AND a.finished_at IS NULL) AS open_attempts,
            ARRAY(SELECT x.sender FROM ${names.suppressions} x WHERE x.channel = m.channel AND x.recipient = m.recipient) AS suppressed_for,
            (SELECT t.attempts - t.deferrals FROM ${names.tasks} t WHERE t.id = $2::bigint) AS counted,
            (SELECT t.max_retries FROM ${names.tasks} t WHERE t.id = $2::bigint) AS max_retries_
       -- A follow-up carries its own content (copied at creation); only a batch's own messages render the batch's.
       FROM ${names.messages} m LEFT JOIN ${names.batches} b ON b.id = m.batch_id AND m.parent_id IS NULL
      WHERE m.id = $1`,
    [id, taskId],
  );
  const r = rows[0];
  if (!r) return null;
  const { batch_template, batch_variables, batch_subject, open_attempts, suppressed_for, counted, max_retries_, ...message } = r;
  return { message, batchTemplate: batch_template, batchVariables: batch_variables, batchSubject: batch_subject, openAttempts: open_attempts, suppressedFor: suppressed_for, counted, maxRetries: max_retries_ };
}

/**
 * Opens a ledger entry and moves the message to `sending`, in one statement.
 * Returns the entry number, or `null` when the message is not waiting to be sent.
 */
export async function openAttempt(db: Queryable, names: MessageNames, a: { id: string; provider: string; taskId: string; taskAttempt: number }): Promise<number | null> {
  const { rows } = await db.query<{ n: number }>(
    `WITH m AS (
       UPDATE ${names.messages} SET status = 'sending', attempts = attempts + 1, provider = $2, updated_at = now()
        WHERE id = $1 AND status IN ('queued', 'pending')
       RETURNING id, attempts)
     INSERT INTO ${names.attempts} (message_id, n, task_id, task_attempt, provider)
     SELECT id, attempts, $3, $4, $2 FROM m
     RETURNING n`,
    [a.id, a.provider, a.taskId, a.taskAttempt],
  );
  return rows[0]?.n ?? null;
}

/** What a finished request did to its message. */
export interface AttemptResult {
  id: string;
  n: number;
  outcome: OutcomeClass;
  code: string | null;
  text: string | null;
  providerMessageId: string | null;
  /** New status: `sent`, `failed`, `unknown`, or `pending` (will be tried again). */
  status: MessageStatus;
}

/**
 * Closes a ledger entry and applies its result to the message, in one statement.
 * `sent`/`failed`/`unknown` apply only forward (a webhook may already have said
 * `delivered`); `pending` applies only while this entry is the one in flight.
 * Returns the message's status afterwards.
 */
export async function closeAttempt(db: Queryable, names: MessageNames, r: AttemptResult): Promise<MessageStatus | null> {
  const { rows } = await db.query<{ status: MessageStatus }>(
    `WITH a AS (
       UPDATE ${names.attempts}
          SET finished_at = now(), outcome = $3, error_code = $4, error_text = $5, provider_message_id = $6
        WHERE message_id = $1 AND n = $2 AND finished_at IS NULL
       RETURNING n)
     UPDATE ${names.messages} m
        SET status = CASE
              WHEN $7 = 'pending' THEN CASE WHEN m.status = 'sending' AND EXISTS (SELECT 1 FROM a) THEN 'pending' ELSE m.status END
              WHEN ${names.statusRank}($7) > ${names.statusRank}(m.status) THEN $7
              ELSE m.status END,
            provider_message_id = coalesce($6, m.provider_message_id),
            error_code = CASE WHEN $3 = 'ok' THEN NULL ELSE $4 END,
            error_text = CASE WHEN $3 = 'ok' THEN NULL ELSE $5 END,
            sent_at = CASE WHEN $3 = 'ok' THEN coalesce(m.sent_at, now()) ELSE m.sent_at END,
            updated_at = now()
      WHERE m.id = $1
     RETURNING m.status`,
    [r.id, r.n, r.outcome, r.code, r.text, r.providerMessageId, r.status],
  );
  return rows[0]?.status ?? null;
}

/** Closes ledger entries a dead attempt left open, as `ambiguous`. Returns how many. */
export async function closeOpenAttempts(db: Queryable, names: MessageNames, id: string, text: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE ${names.attempts} SET finished_at = now(), outcome = 'ambiguous', error_code = 'ambiguous', error_text = $2
      WHERE message_id = $1 AND finished_at IS NULL`,
    [id, text],
  );
  return rowCount ?? 0;
}

/**
 * Sets a status without a request (expired, suppressed, ambiguous left by a dead
 * attempt, deferred): forward only, except `pending` which replaces `queued`/`sending`.
 */
export async function setStatus(db: Queryable, names: MessageNames, id: string, status: MessageStatus, error: { code: string | null; text: string | null } | null): Promise<MessageStatus | null> {
  const { rows } = await db.query<{ status: MessageStatus }>(
    `UPDATE ${names.messages} m
        SET status = CASE
              WHEN $2 = 'pending' THEN CASE WHEN m.status IN ('queued', 'sending') THEN 'pending' ELSE m.status END
              WHEN ${names.statusRank}($2) > ${names.statusRank}(m.status) THEN $2
              ELSE m.status END,
            error_code = CASE WHEN $5 THEN $3 ELSE m.error_code END,
            error_text = CASE WHEN $5 THEN $4 ELSE m.error_text END,
            updated_at = now()
      WHERE m.id = $1
     RETURNING m.status`,
    [id, status, error?.code ?? null, error?.text ?? null, error !== null],
  );
  return rows[0]?.status ?? null;
}

/**
 * Adds a suppression for every sender (`sender` omitted or `''`) or for one sender;
 * a suppression already there keeps its first reason.
 */
export async function insertSuppression(db: Queryable, names: MessageNames, x: { channel: string; recipient: string; sender?: string; reason: string; code: string | null; messageId: string | null }): Promise<void> {
  await db.query(
    `INSERT INTO ${names.suppressions} (channel, recipient, sender, reason, error_code, message_id) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (channel, recipient, sender) DO NOTHING`,
    [x.channel, x.recipient, x.sender ?? '', x.reason, x.code, x.messageId],
  );
}

/** One status event from a provider, keyed for de-duplication. */
export interface StatusEvent {
  source: string;
  eventKey: string;
  status: MessageStatus;
  errorCode: string | null;
  errorText: string | null;
  payload: unknown;
  /** Our message id, when the provider echoed it back. */
  messageId: string | null;
  /** The provider's message id, to find the message otherwise. */
  providerMessageId: string | null;
  provider: string;
}

/** Result of {@link applyStatusEvent}. */
export interface AppliedEvent {
  /** The message the event belongs to (null: no such message). */
  message: MessageRow | null;
  /** False when the same event was already recorded. */
  fresh: boolean;
  /** Whether the status moved. */
  moved: boolean;
}

/**
 * Records a provider status event once per (source, event key) and moves the
 * message forward if the event's status ranks higher, in one statement.
 */
export async function applyStatusEvent(db: Queryable, names: MessageNames, e: StatusEvent): Promise<AppliedEvent> {
  const { rows } = await db.query<MessageRow & { fresh: boolean; moved_status: MessageStatus | null }>(
    `WITH target AS (
       SELECT id, status FROM ${names.messages}
        WHERE ($1::uuid IS NOT NULL AND id = $1::uuid)
           OR ($1::uuid IS NULL AND provider = $2 AND provider_message_id = $3)
        LIMIT 1
        FOR UPDATE),
     ev AS (
       INSERT INTO ${names.events} (message_id, source, event_key, status, error_code, payload, applied)
       SELECT id, $4, $5, $6, $7, $8::jsonb, ${names.statusRank}($6) > ${names.statusRank}(status) FROM target
       ON CONFLICT (source, event_key) WHERE event_key IS NOT NULL DO NOTHING
       RETURNING message_id, applied),
     moved AS (
       UPDATE ${names.messages} m
          SET status = $6,
              provider_message_id = coalesce(m.provider_message_id, $3),
              error_code = CASE WHEN $6 IN ('failed', 'undelivered') THEN $7 WHEN $6 IN ('delivered', 'read') THEN NULL ELSE m.error_code END,
              error_text = CASE WHEN $6 IN ('failed', 'undelivered') THEN $9 WHEN $6 IN ('delivered', 'read') THEN NULL ELSE m.error_text END,
              sent_at = coalesce(m.sent_at, now()),
              delivered_at = CASE WHEN $6 IN ('delivered', 'read') THEN coalesce(m.delivered_at, now()) ELSE m.delivered_at END,
              read_at = CASE WHEN $6 = 'read' THEN coalesce(m.read_at, now()) ELSE m.read_at END,
              updated_at = now()
         FROM ev
        WHERE m.id = ev.message_id AND ev.applied
       RETURNING m.id, m.status)
     SELECT m.*, moved.status AS moved_status, EXISTS (SELECT 1 FROM ev) AS fresh
       FROM target t JOIN ${names.messages} m ON m.id = t.id LEFT JOIN moved ON moved.id = t.id`,
    [e.messageId, e.provider, e.providerMessageId, e.source, e.eventKey, e.status, e.errorCode, JSON.stringify(e.payload ?? null), e.errorText],
  );
  const r = rows[0];
  if (!r) return { message: null, fresh: false, moved: false };
  const { fresh, moved_status, ...message } = r;
  if (moved_status) message.status = moved_status;
  return { message, fresh, moved: moved_status !== null };
}

/** Adds a manual event (note and/or status) to a message. */
export async function insertManualEvent(db: Queryable, names: MessageNames, id: string, status: MessageStatus | null, note: string | null, applied: boolean): Promise<void> {
  await db.query(`INSERT INTO ${names.events} (message_id, source, status, note, applied) VALUES ($1, 'manual', $2, $3, $4)`, [id, status, note, applied]);
}

/** A message's ledger. */
export async function selectAttempts(db: Queryable, names: MessageNames, id: string): Promise<MessageAttempt[]> {
  const { rows } = await db.query<{
    n: number;
    task_id: string | null;
    task_attempt: number | null;
    provider: string;
    started_at: Date;
    finished_at: Date | null;
    outcome: OutcomeClass | null;
    error_code: string | null;
    error_text: string | null;
    provider_message_id: string | null;
  }>(`SELECT * FROM ${names.attempts} WHERE message_id = $1 ORDER BY n`, [id]);
  return rows.map((r) => ({
    n: r.n,
    taskId: r.task_id === null ? null : String(r.task_id),
    taskAttempt: r.task_attempt,
    provider: r.provider,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome,
    error: r.error_code === null && r.error_text === null ? null : { code: r.error_code, message: r.error_text ?? '' },
    providerMessageId: r.provider_message_id,
  }));
}

/** A message's events, oldest first. */
export async function selectEvents(db: Queryable, names: MessageNames, id: string): Promise<MessageEvent[]> {
  const { rows } = await db.query<{ source: string; status: string | null; error_code: string | null; note: string | null; applied: boolean; received_at: Date }>(
    `SELECT source, status, error_code, note, applied, received_at FROM ${names.events} WHERE message_id = $1 ORDER BY id`,
    [id],
  );
  return rows.map((r) => ({ source: r.source, status: r.status, errorCode: r.error_code, note: r.note, applied: r.applied, receivedAt: r.received_at }));
}
