/**
 * The `messages.send` task: one run sends one message through its provider's gate
 * and applies the classified outcome. The send ledger (`message_attempts`) makes
 * "maybe sent" visible: an entry a dead attempt left open is never silently resent.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { inTransaction, type Queryable } from '../db/pool.js';
import { PermanentError, type RetryAfter, retryAfter } from '../errors.js';
import type { RateLimitSpec } from '../limits/rate-limiter.js';
import type { TaskContext } from '../registry.js';
import type { ChannelDefinition } from './channels.js';
import type { Gates } from './gates.js';
import { WHATSAPP_WINDOW } from './inbound.js';
import type { MessageNames } from './names.js';
import { composeOutgoing, emailExtras } from './outgoing.js';
import { errorText, type MessageProvider, type SendResult } from './providers/provider.js';
import { quietWait } from './quiet.js';
import { redact } from './redact.js';
import { closeAttempt, closeOpenAttempts, insertSuppression, type MessageRow, openAttempt, selectSendState, setStatus } from './store.js';
import type { MessageStatus, TemplateVariables } from './types.js';
import type { UnsubscribeSettings } from './unsubscribe.js';

/** Name of the send task. */
export const SEND_TASK = 'messages.send';
/** Queue of the send task. */
export const MESSAGES_QUEUE = 'messages';

/** What the send task needs from the messaging module. */
export interface SenderDeps {
  pool: pg.Pool;
  /** Quoted schema. */
  names: MessageNames;
  logger: Logger;
  gates: Gates;
  channel(name: string): ChannelDefinition | undefined;
  provider(channel: string, name: string | null): MessageProvider | undefined;
  rate(provider: MessageProvider, channel: string): RateLimitSpec;
  secrets(): string[];
  configPause: number;
  /** Seconds a message may spend deferred, from its creation, before it fails (`gates.maxDeferral`). */
  maxDeferral: number;
  /** Creates the follow-up of a message the provider refused for a closed 24-hour window. */
  followUp(db: Queryable, parent: MessageRow): Promise<string | null>;
  /** Whether WhatsApp windows are known from recorded inbound messages (`providers.windowFromInbound`). */
  windowFromInbound: boolean;
  /** Providers to fail over to, in order, per channel (`providers.failover`). */
  failover(channel: string): string[] | undefined;
  /** Seconds a provider must stay paused before its messages fail over. */
  failoverAfter: number;
  /** One-click unsubscribe settings, if configured. */
  unsubscribe(): UnsubscribeSettings | undefined;
  /** Creates the cross-channel fallback of a message that failed for good, if it has one. */
  fallBack(db: Queryable, parent: MessageRow): Promise<string | null>;
  /** Continues a message already tried on a paused provider as a linked message on `provider`; `null` when its chain has failed over as often as there are providers to fail over to. */
  failOver(db: Queryable, parent: MessageRow, provider: string): Promise<string | null>;
}

/** What a send task run returns (its task result). */
export interface SendTaskResult {
  messageId: string;
  status: MessageStatus;
  providerMessageId?: string | null;
  note?: string;
}

const jitter = (seconds: number) => seconds + Math.random() * Math.min(1, 0.1 * seconds);

/** Builds the handler of {@link SEND_TASK}. */
export function createSendHandler(deps: SenderDeps) {
  const warned = new Set<string>();
  const { names } = deps;
  const clean = (text: string) => redact(text, deps.secrets()).slice(0, 2000);

  return async function sendMessage(payload: { messageId: string }, ctx: TaskContext): Promise<SendTaskResult | RetryAfter> {
    const id = payload.messageId;
    const st = await selectSendState(deps.pool, names, id, ctx.taskId);
    if (!st) return { messageId: id, status: 'failed', note: 'message no longer exists' };
    const m = st.message;
    const channel = deps.channel(m.channel);
    let provider = deps.provider(m.channel, m.provider);
    const log = ctx.logger.child({ messageId: id, channel: m.channel });

    // A previous attempt opened a request and never recorded its outcome: it may have been sent.
    if (st.openAttempts > 0) {
      await closeOpenAttempts(deps.pool, names, id, 'previous attempt ended without recording an outcome (process stopped mid-request)');
      if ((provider?.ambiguous ?? 'unknown') === 'unknown') {
        const status = await setStatus(deps.pool, names, id, 'unknown', { code: 'ambiguous', text: 'may have been sent: the previous attempt stopped mid-request; not resent' });
        log.warn({ provider: m.provider }, 'message outcome unknown after an interrupted attempt; not resending');
        return { messageId: id, status: status ?? 'unknown' };
      }
      await setStatus(deps.pool, names, id, 'pending', null);
      m.status = 'pending';
    }
    if (m.status !== 'queued' && m.status !== 'pending') return { messageId: id, status: m.status, note: 'already handled' };

    const fail = async (code: string, text: string): Promise<never> => {
      await inTransaction(deps.pool, async (db) => {
        await setStatus(db, names, id, 'failed', { code, text });
        await deps.fallBack(db, m);
      });
      throw new PermanentError(`message ${id}: ${code}: ${text}`);
    };
    if (m.expires_at && m.expires_at.getTime() <= Date.now()) await fail('expired', 'not sent before its deadline (expiresAt)');
    // Every deferral is bounded: a message that waited this long for a slot, a paused provider or a configured process fails.
    if ((m.send_at ?? m.created_at).getTime() + deps.maxDeferral * 1000 <= Date.now()) {
      await fail('deferred', `not sent within gates.maxDeferral (${deps.maxDeferral}s): ${m.error_text ?? 'waited for a rate limit, a paused provider or a configured process'}`);
    }
    if (st.suppressedFor.includes('')) await fail('suppressed', 'recipient is suppressed on this channel');
    const quiet = m.quiet_hours ? quietWait(m.quiet_hours) : 0;
    if (quiet > 0) {
      await setStatus(deps.pool, names, id, 'pending', null);
      return retryAfter(quiet + Math.random() * 60, 'quiet hours');
    }
    if (!channel) await fail('channel', `channel "${m.channel}" is not registered`);
    if (channel?.manual) await fail('channel', `channel "${m.channel}" is tracked, not sent`);
    if (!provider) {
      const key = `${m.channel}:${m.provider ?? ''}`;
      if (!warned.has(key)) {
        warned.add(key);
        log.warn({ provider: m.provider }, 'no provider configured for this channel in this process; deferring its messages');
      }
      await setStatus(deps.pool, names, id, 'pending', { code: 'config', text: `no provider configured for channel "${m.channel}"` });
      return retryAfter(jitter(30), 'no provider configured');
    }
    provider = provider as MessageProvider;

    // The 24-hour window closed (no inbound message from the recipient in a day): send the template now.
    const windowTemplate = m.channel === 'whatsapp' && deps.windowFromInbound ? (m.fallback as { channel?: string; template?: unknown; variables?: TemplateVariables } | null) : null;
    const useTemplate = !!windowTemplate?.template && !windowTemplate.channel && !(await windowOpen(deps.pool, names, m.recipient));
    const composed = composeOutgoing(st, useTemplate ? windowTemplate : null);
    if (!composed.ok) return fail('template', composed.error);
    const out = composed.out;
    // Failover: the provider has been paused longer than gates.failoverAfter; take the next open one.
    const keyOf = (p: MessageProvider) => p.gateKey?.(out) ?? `${p.name}:${m.channel}`;
    const alternative = async (current: MessageProvider): Promise<MessageProvider | null> => {
      for (const name of deps.failover(m.channel) ?? []) {
        const p = deps.provider(m.channel, name);
        if (p && p !== current && (await deps.gates.pausedFor(keyOf(p))) <= 0) return p;
      }
      return null;
    };
    if (deps.failover(m.channel) && (await deps.gates.pausedFor(keyOf(provider))) > deps.failoverAfter) {
      const next = await alternative(provider);
      if (next && m.attempts === 0) {
        // Nothing was handed to the paused provider yet: this message simply goes through the open one.
        log.info({ from: provider.name, to: next.name }, 'provider paused; failing over');
        provider = next;
      } else if (next) {
        // Already tried there: the next provider gets a linked message with its own ledger (relation 'failover').
        const from = provider.name;
        const child = await inTransaction(deps.pool, async (db) => {
          const created = await deps.failOver(db, m, next.name);
          if (created) await setStatus(db, names, id, 'failed', { code: 'failover', text: `provider ${from} paused; continued on ${next.name} as message ${created}` });
          return created;
        });
        if (child) {
          log.info({ from, to: next.name, followUp: child }, 'provider paused; failed over as a linked message');
          return { messageId: id, status: 'failed', note: `failed over to ${next.name} as message ${child}` };
        }
      }
    }
    const problem = provider.validate?.(out) ?? null;
    if (problem) await fail('content', problem);
    const sender = provider.sender?.(out) ?? out.from ?? provider.name;
    if (st.suppressedFor.includes(sender)) await fail('suppressed', `recipient is suppressed for sender ${sender} on this channel`);
    if (m.channel === 'email') out.email = emailExtras(m, sender, deps.unsubscribe());

    // The provider gate: a pause first, then a slot under the send rate.
    const gateKey = provider.gateKey?.(out) ?? `${provider.name}:${m.channel}`;
    const paused = await deps.gates.pausedFor(gateKey);
    if (paused > 0) {
      await setStatus(deps.pool, names, id, 'pending', null);
      return retryAfter(jitter(paused), 'provider paused');
    }
    const slot = await deps.gates.acquire(gateKey, deps.rate(provider, m.channel), ctx.signal);
    if (!slot.granted) {
      await setStatus(deps.pool, names, id, 'pending', null);
      return retryAfter(slot.retryAfter, 'rate limit');
    }
    // Another process may have paused the provider (a 429) while this one waited for its slot.
    const pausedMeanwhile = await deps.gates.pausedFor(gateKey);
    if (pausedMeanwhile > 0) {
      await setStatus(deps.pool, names, id, 'pending', null);
      return retryAfter(jitter(pausedMeanwhile), 'provider paused');
    }

    const n = await openAttempt(deps.pool, names, { id, provider: provider.name, taskId: ctx.taskId, taskAttempt: ctx.attempt });
    if (n === null) return { messageId: id, status: m.status, note: 'changed while waiting' };
    // The ledger write above took time: count the window from the actual send.
    await slot.markStart();
    let result: SendResult;
    try {
      result = await provider.send(out, { signal: ctx.signal, logger: log, attempt: n });
    } catch (err) {
      // A provider must classify its own errors; a throw may have happened after sending.
      result = { outcome: 'ambiguous', code: 'exception', message: errorText(err) };
    }

    const close = (status: MessageStatus, db: Queryable = deps.pool) =>
      closeAttempt(db, names, {
        id,
        n,
        outcome: result.outcome,
        code: result.outcome === 'ok' ? null : (result.code ?? null),
        text: result.outcome === 'ok' ? null : clean(result.message),
        providerMessageId: result.outcome === 'ok' ? result.providerMessageId : null,
        status,
      });
    if (result.outcome === 'ok') {
      const status = await close('sent');
      log.debug({ provider: provider.name, providerMessageId: result.providerMessageId }, 'message sent');
      return { messageId: id, status: status ?? 'sent', providerMessageId: result.providerMessageId };
    }

    const code = result.code ?? null;
    const text = clean(result.message);
    const describe = `${provider.name}${code ? ` ${code}` : ''}: ${text}`;
    const last = st.counted !== null && st.maxRetries !== null && st.counted > st.maxRetries;
    switch (result.outcome) {
      case 'retry': {
        if (last) {
          await inTransaction(deps.pool, async (db) => {
            await close('failed', db);
            await deps.fallBack(db, m);
          });
          throw new PermanentError(`message ${id}: ${describe} (no retries left)`);
        }
        await close('pending');
        throw new Error(describe);
      }
      case 'rate_limited': {
        const wait = Math.min(6 * 3600, Math.max(0.25, result.retryAfter ?? 1));
        if (result.pauseGate !== false) await deps.gates.pause(gateKey, wait, `rate limited: ${describe}`);
        await close('pending');
        log.info({ provider: provider.name, code, retryAfter: wait }, 'provider rate limit; deferring');
        const soon = result.pauseGate !== false && wait > deps.failoverAfter && (await alternative(provider));
        return retryAfter(soon ? jitter(0.5) : jitter(wait), soon ? 'provider rate limit: failing over' : 'provider rate limit');
      }
      case 'config': {
        const pause = Math.max(deps.configPause, result.retryAfter ?? 0);
        const fresh = await deps.gates.pause(gateKey, pause, `configuration: ${describe}`);
        if (fresh) log.error({ provider: provider.name, gate: gateKey, code, error: text, pausedFor: pause }, `provider ${provider.name} refused our configuration (credentials, sender or account); paused for ${pause}s`);
        await close('pending');
        const soon = pause > deps.failoverAfter && (await alternative(provider));
        return retryAfter(soon ? jitter(0.5) : jitter(pause), soon ? 'provider paused: failing over' : 'provider paused: configuration error');
      }
      case 'permanent_recipient': {
        await inTransaction(deps.pool, async (db) => {
          await close('failed', db);
          const scope = result.suppress === 'pair' ? sender : '';
          await insertSuppression(db, names, { channel: m.channel, recipient: m.recipient, sender: scope, reason: text.slice(0, 300), code, messageId: id });
          await deps.fallBack(db, m);
        });
        throw new PermanentError(`message ${id}: ${describe} (recipient suppressed${result.suppress === 'pair' ? ` for ${sender}` : ''})`);
      }
      case 'permanent': {
        await inTransaction(deps.pool, async (db) => {
          await close('failed', db);
          if (!(m.fallback && isWindowCode(code) && (await deps.followUp(db, m)))) await deps.fallBack(db, m);
        });
        throw new PermanentError(`message ${id}: ${describe}`);
      }
      case 'ambiguous': {
        if ((provider.ambiguous ?? 'unknown') === 'unknown' || last) {
          const status = await close('unknown');
          log.warn({ provider: provider.name, code, error: text }, 'message may have been sent; marked unknown, not resent');
          return { messageId: id, status: status ?? 'unknown' };
        }
        await close('pending');
        throw new Error(`${describe} (may have been sent; retrying under the provider's idempotency)`);
      }
    }
  };
}

/** Whether the recipient wrote to us on WhatsApp in the last 24 hours (the customer-service window is open). */
async function windowOpen(db: Queryable, names: MessageNames, recipient: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM ${names.inbound} WHERE channel = 'whatsapp' AND recipient = $1 AND received_at > now() - make_interval(secs => $2) LIMIT 1`, [
    recipient,
    WHATSAPP_WINDOW,
  ]);
  return rows.length > 0;
}

/** Codes that say "WhatsApp's 24-hour window is closed; send a template instead". */
export function isWindowCode(code: string | null): boolean {
  return code === '131047' || code === '63016';
}

