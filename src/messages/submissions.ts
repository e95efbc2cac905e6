/**
 * The `process_emailjs_submission` task: stores a form submission once (unique on
 * its de-duplication key) and, in the same transaction, enqueues its follow-ups —
 * a notification email to the team and an optional auto-reply.
 */
import type pg from 'pg';
import type { z } from 'zod';
import { inTransaction, type Queryable } from '../db/pool.js';
import type { RateLimiter, RateLimitSpec } from '../limits/rate-limiter.js';
import { normalizeEmail } from './channels.js';
import type { emailjsSchema } from './config.js';
import type { MessageNames } from './names.js';
import { escapeHtml, singleLine } from './template.js';
import type { SendMessageInput, SendOptions, TemplateVariables } from './types.js';
import type { EmailJsTaskPayload } from './webhooks/emailjs.js';

/** Name of the submission task. */
export const EMAILJS_TASK = 'process_emailjs_submission';

/** What the task returns. */
export interface SubmissionResult {
  /** The stored submission's id (the existing one for a duplicate). */
  submissionId: string | null;
  /** True when the same submission was already stored; nothing was sent again. */
  duplicate: boolean;
  /** Messages enqueued to notify the team. */
  notified: string[];
  /** The auto-reply message, if one was sent. */
  replyMessageId: string | null;
  /** Why no auto-reply was sent, when auto-replies are configured. */
  replyNote?: string;
}

/** What the task needs. */
export interface SubmissionDeps {
  pool: pg.Pool;
  names: MessageNames;
  config(): z.output<typeof emailjsSchema> | undefined;
  send(input: SendMessageInput, options: SendOptions): Promise<string>;
  rateLimiter(key: string, spec: RateLimitSpec): RateLimiter;
}

/** Whether `address` is on the auto-reply allow-list (exact addresses or `@domain` patterns). */
export function replyAllowed(address: string, allowed: readonly string[]): boolean {
  const a = address.toLowerCase();
  return allowed.some((p) => (p.startsWith('@') ? a.endsWith(p.toLowerCase()) : a === p.toLowerCase()));
}

/** A submitted value as it may appear in an auto-reply: one line, at most 200 characters. */
function replyValue(v: string | number | boolean | null): string | number | boolean | null {
  return typeof v === 'string' ? singleLine(v).slice(0, 200) : v;
}

/** The notification email's text and HTML: one line (or row) per field, values escaped in HTML. */
export function notificationContent(p: EmailJsTaskPayload): { text: string; html: string } {
  const rows = Object.entries(p.submission.template_params).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
  const header = `Template ${p.submission.template_id} (service ${p.submission.service_id}), received ${p.receivedAt}`;
  const text = [header, '', ...rows.map(([k, v]) => `${k}: ${v}`)].join('\n');
  const html = `<p>${escapeHtml(header)}</p>\n<table>\n${rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v).replaceAll('\n', '<br>')}</td></tr>`).join('\n')}\n</table>`;
  return { text, html };
}

/** Builds the handler of {@link EMAILJS_TASK}. */
export function createSubmissionHandler(deps: SubmissionDeps) {
  return async function processSubmission(p: EmailJsTaskPayload): Promise<SubmissionResult> {
    const cfg = deps.config();
    return inTransaction(deps.pool, async (db: Queryable) => {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO ${deps.names.submissions} (source, dedupe_key, service_id, template_id, user_id, params, auth_mode, origin, remote_ip, received_at)
         VALUES ('emailjs', $1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)
         ON CONFLICT (source, dedupe_key) DO NOTHING
         RETURNING id`,
        [p.dedupeKey, p.submission.service_id, p.submission.template_id, p.submission.user_id, JSON.stringify(p.submission.template_params), p.authMode, p.origin, p.ip, p.receivedAt],
      );
      const id = rows[0]?.id;
      if (!id) {
        const existing = await db.query<{ id: string }>(`SELECT id FROM ${deps.names.submissions} WHERE source = 'emailjs' AND dedupe_key = $1`, [p.dedupeKey]);
        return { submissionId: existing.rows[0]?.id ?? null, duplicate: true, notified: [], replyMessageId: null };
      }
      const notified: string[] = [];
      const vars = Object.fromEntries(Object.entries(p.submission.template_params).map(([k, v]) => [k.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64), v])) as TemplateVariables;
      if (cfg?.notify) {
        const { text, html } = notificationContent(p);
        const subject = singleLine(cfg.notify.subject ?? `New form submission: ${p.submission.template_id}`);
        for (const to of Array.isArray(cfg.notify.to) ? cfg.notify.to : [cfg.notify.to]) {
          notified.push(await deps.send({ channel: 'email', to, subject, body: text, html }, { tx: db }));
        }
      }
      let replyMessageId: string | null = null;
      let replyNote: string | null = null;
      const reply = cfg?.autoReply;
      const rawTo = reply ? p.submission.template_params[reply.toField] : undefined;
      const replyTo = typeof rawTo === 'string' ? normalizeEmail(rawTo) : null;
      if (reply && !replyTo) replyNote = `no valid address in ${reply.toField}`;
      else if (reply && replyTo) {
        // Never a relay: only verified submissions, or addresses the operator allows, within caps.
        if (!p.verified && !replyAllowed(replyTo, reply.allowedRecipients)) replyNote = 'not verified and not an allowed recipient';
        else if (!(await deps.rateLimiter(`emailjs:reply:${replyTo}`, reply.perRecipient as RateLimitSpec).acquire()).granted) replyNote = 'per-recipient auto-reply cap reached';
        else if (!(await deps.rateLimiter('emailjs:reply:all', reply.total as RateLimitSpec).acquire()).granted) replyNote = 'auto-reply cap reached';
        else {
          const safe = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, replyValue(v)])) as TemplateVariables;
          const { subject, text, html } = reply;
          replyMessageId = await deps.send({ channel: 'email', to: replyTo, template: { subject, text, ...(html ? { html } : {}) }, variables: safe }, { tx: db });
        }
      }
      await db.query(`UPDATE ${deps.names.submissions} SET notify_message_id = $2, reply_message_id = $3, verified = $4, reply_note = $5 WHERE id = $1`, [
        id,
        notified[0] ?? null,
        replyMessageId,
        p.verified,
        replyNote,
      ]);
      return { submissionId: id, duplicate: false, notified, replyMessageId, ...(replyNote ? { replyNote } : {}) };
    });
  };
}
