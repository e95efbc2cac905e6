import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parse } from '../config.js';
import { inTransaction, type Queryable } from '../db/pool.js';
import { transactionQueryable } from '../db/tx/index.js';
import { NotFoundError, StateError, ValidationError } from '../errors.js';
import type { RateLimitSpec } from '../limits/rate-limiter.js';
import type { PluginHost } from '../plugins.js';
import { defineTask } from '../registry.js';
import { insertBulk, selectBatch, selectBatches } from './batches.js';
import { builtinChannels, type ChannelDefinition } from './channels.js';
import { classifySmtp } from './classify.js';
import { emailjsTaskSchema, type ParsedProviders, type ProvidersConfig, providersSchema, sendBulkInputSchema, sendInputSchema } from './config.js';
import { isProviderTemplate } from './content.js';
import { parseDsn, parseDsnBody } from './dsn.js';
import { chainCount, insertFollowUp, selectFollowUps } from './followups.js';
import { Gates } from './gates.js';
import { toMediaItems } from './media.js';
import { type MessageNames, messageNames } from './names.js';
import { metaProvider } from './providers/meta.js';
import type { MessageProvider } from './providers/provider.js';
import { resendProvider } from './providers/resend.js';
import { smtpProvider } from './providers/smtp.js';
import { twilioProvider } from './providers/twilio.js';
import { type ReconcileResult, reconcileMessage } from './reconcile.js';
import { redact } from './redact.js';
import { createSendHandler, isWindowCode, MESSAGES_QUEUE, SEND_TASK } from './sender.js';
import { canAdvance } from './status.js';
import {
  applyStatusEvent,
  insertManualEvent,
  insertMessage,
  insertSuppression,
  type MessageRow,
  type StoredEmailOptions,
  selectAttempts,
  selectEvents,
  selectMessage,
  setStatus,
  toMessageInfo,
} from './store.js';
import { createSubmissionHandler, EMAILJS_TASK } from './submissions.js';
import type {
  BatchProgress,
  Channel,
  ChannelFallback,
  ContentTemplate,
  MediaItem,
  MessageAttempt,
  MessageEvent,
  MessageInfo,
  MessageQueueStatus,
  MessageStatus,
  MessageTemplate,
  SendBulkInput,
  SendMessageInput,
  SendOptions,
  StatusCounts,
  TemplateVariables,
  WhatsAppTemplate,
} from './types.js';
import { MESSAGE_STATUSES } from './types.js';
import { unsubscribeEndpoint } from './unsubscribe.js';
import { uuidOrNull } from './webhooks/body.js';
import { emailjsEndpoint, type RequestInfo } from './webhooks/emailjs.js';
import { metaWebhook } from './webhooks/meta.js';
import { resendWebhook } from './webhooks/resend.js';
import { type InboundEvent, type ProviderStatusEvent, twilioWebhook } from './webhooks/twilio.js';

/** Web-standard webhook handlers, for any HTTP framework (`Request` in, `Response` out). */
export interface MessageWebhooks {
  /**
   * Twilio status callbacks and inbound messages (`POST`, `X-Twilio-Signature`;
   * HMAC-SHA256 Webhooks Settings with `twilio.webhookSigningKey`). `maxBytes`
   * caps the body (default 256 KiB, as `pgcourier/http`'s `webhookBodyLimit`).
   */
  twilio(request: Request, info?: { maxBytes?: number }): Promise<Response>;
  /** Meta WhatsApp webhooks: `GET` = `hub.challenge` handshake, `POST` = statuses and inbound messages (`X-Hub-Signature-256`). */
  meta(request: Request, info?: { maxBytes?: number }): Promise<Response>;
  /** Resend delivery events (`POST`, Svix-signed with `resend.webhookSecret`). */
  resend(request: Request, info?: { maxBytes?: number }): Promise<Response>;
  /** One-click unsubscribe links (RFC 8058): `GET` shows a confirmation form, `POST` suppresses. */
  unsubscribe(request: Request): Promise<Response>;
  /**
   * The EmailJS-compatible endpoint (`…/api/v1.0/email/send`, `…/send-form`) for
   * browser forms, and its Standard-Webhooks-signed server-to-server variant. Pass
   * the client IP in `info` for the per-IP rate limit.
   */
  emailjs(request: Request, info?: RequestInfo): Promise<Response>;
}

/** A handle on one bulk batch. */
export interface BatchHandle {
  /** Batch id. */
  readonly id: string;
  /** Current progress, or `null` if the batch does not exist. */
  get(): Promise<BatchProgress | null>;
  /**
   * Resolves with the final progress once no message of the batch is queued,
   * pending or sending. Rejects after `timeout` seconds (default: never) or when
   * `signal` aborts. Polls every `interval` seconds (default 0.5).
   */
  done(options?: { timeout?: number; interval?: number; signal?: AbortSignal }): Promise<BatchProgress>;
}

/**
 * Messaging: sends email, SMS and WhatsApp from background tasks through real
 * provider protocols, tracks every message's status (forward only), runs bulk
 * batches with progress, and takes provider webhooks. Reach it as
 * `courier.messages`.
 *
 * @example
 * ```ts
 * import { createCourier } from 'pgcourier';
 * import { messages } from 'pgcourier/messages';
 *
 * const courier = createCourier({
 *   connectionString: process.env.DATABASE_URL,
 *   plugins: [messages({ providers: { twilio: { accountSid: 'AC…', authToken: '…', from: '+15550001111', statusCallback: 'https://app.example/hooks/twilio' } } })],
 * });
 * const id = await courier.messages.send({ channel: 'sms', to: '+15551234567', body: 'Your code is 4821' });
 * await courier.start();
 * console.log((await courier.messages.get(id))?.status); // 'sent', later 'delivered'
 * ```
 */
export class Messages {
  readonly #host: PluginHost;
  readonly #names: MessageNames;
  #config: ParsedProviders;
  readonly #custom = new Map<string, MessageProvider>();
  #builtin = new Map<string, MessageProvider>();
  readonly #channels = new Map<string, ChannelDefinition>();
  #gates: Gates;
  #tasksRegistered = false;
  readonly #sendTask;
  readonly #submissionTask;

  /** Web-standard webhook handlers: `twilio`, `meta`, `resend`, `emailjs`. */
  readonly webhooks: MessageWebhooks;

  /** Built by the messages plugin; use `courier.messages`. */
  constructor(host: PluginHost, providers?: ProvidersConfig) {
    const self = this;
    this.#host = host;
    this.#names = messageNames(host.names);
    this.#config = parse(providersSchema, providers ?? {}, 'messages', 'providers');
    for (const c of builtinChannels()) this.#channels.set(c.name, c);
    this.#builtin = this.#buildProviders();
    this.#gates = this.#buildGates();
    this.#sendTask = defineTask({
      name: SEND_TASK,
      queue: MESSAGES_QUEUE,
      ...this.#config.sendTask,
      payload: z.object({ messageId: z.uuid() }),
      handler: createSendHandler({
        pool: host.pool,
        names: this.#names,
        logger: host.logger,
        get gates() {
          return self.#gates;
        },
        channel: (name) => this.#channels.get(name),
        provider: (channel, name) => this.#provider(channel, name),
        rate: (provider, channel) => this.#rate(provider, channel),
        secrets: () => this.#secrets(),
        get configPause() {
          return self.#config.gates.configPause;
        },
        get maxDeferral() {
          return self.#config.gates.maxDeferral;
        },
        followUp: (db, parent) => this.#followUp(db, parent),
        fallBack: (db, parent) => this.#channelFallback(db, parent),
        failOver: (db, parent, provider) => this.#failOver(db, parent, provider),
        unsubscribe: () => this.#config.unsubscribe,
        failover: (channel) => this.#config.failover?.[channel],
        get windowFromInbound() {
          return self.#config.windowFromInbound;
        },
        get failoverAfter() {
          return self.#config.gates.failoverAfter;
        },
      }),
    });
    this.#submissionTask = defineTask({
      name: EMAILJS_TASK,
      queue: MESSAGES_QUEUE,
      maxRetries: 5,
      retryDelay: 5,
      timeout: 60,
      payload: emailjsTaskSchema,
      handler: createSubmissionHandler({
        pool: host.pool,
        names: this.#names,
        config: () => this.#config.emailjs,
        send: (input, options) => this.send(input, options),
        rateLimiter: (key, spec) => this.#host.rateLimiter(key, spec),
      }),
    });
    this.webhooks = {
      twilio: (request, info = {}) => {
        this.#ensureTasks();
        return twilioWebhook(request, {
          authToken: this.#config.twilio?.authToken ?? null,
          signingKey: this.#config.twilio?.webhookSigningKey ?? null,
          statusCallback: this.#config.twilio?.statusCallback ?? null,
          apply: (e) => this.#applyEvent(e),
          inbound: (e) => this.#applyInbound(e),
          logger: host.logger,
          ...(info.maxBytes ? { maxBytes: info.maxBytes } : {}),
        });
      },
      meta: (request, info = {}) => {
        this.#ensureTasks();
        return metaWebhook(request, {
          appSecret: this.#config.whatsapp?.appSecret ?? null,
          verifyToken: this.#config.whatsapp?.verifyToken ?? null,
          apply: (e) => this.#applyEvent(e),
          inbound: (e) => this.#applyInbound(e),
          logger: host.logger,
          ...(info.maxBytes ? { maxBytes: info.maxBytes } : {}),
        });
      },
      resend: (request, info = {}) => {
        this.#ensureTasks();
        return resendWebhook(request, {
          secret: this.#config.resend?.webhookSecret ?? null,
          apply: (e) => this.#applyEvent(e),
          logger: host.logger,
          ...(info.maxBytes ? { maxBytes: info.maxBytes } : {}),
        });
      },
      unsubscribe: (request) =>
        unsubscribeEndpoint(request, {
          config: this.#config.unsubscribe,
          suppress: (t) => insertSuppression(this.#host.pool, this.#names, { ...t, reason: 'unsubscribed by one-click link (RFC 8058)', code: 'list_unsubscribe', messageId: null }),
          logger: host.logger,
        }),
      emailjs: (request, info = {}) => {
        this.#ensureTasks();
        return emailjsEndpoint(request, info, {
          config: this.#config.emailjs,
          rateLimiter: (key, spec) => this.#host.rateLimiter(key, spec),
          enqueue: async (payload) => {
            await this.#host.enqueueTask(EMAILJS_TASK, payload, { key: payload.dedupeKey });
          },
          logger: host.logger,
        });
      },
    };
    this.#ensureTasks();
  }

  /**
   * Sets (or replaces) the provider settings after creation, e.g. in a worker's
   * task module: `export function register(courier) { courier.messages.configure({ … }) }`.
   * Validated like `createCourier({ providers })`.
   *
   * @example
   * ```ts
   * courier.messages.configure({ resend: { apiKey: process.env.RESEND_API_KEY!, from: 'Acme <noreply@acme.test>' } });
   * ```
   */
  configure(providers: ProvidersConfig): void {
    this.#config = parse(providersSchema, providers ?? {}, 'messages.configure', 'providers');
    for (const p of this.#builtin.values()) void p.close?.();
    this.#builtin = this.#buildProviders();
    this.#gates = this.#buildGates();
    this.#ensureTasks();
  }

  /**
   * Adds a way to send: a provider for one or more channels. Providers added here
   * win over built-in ones of the same name.
   *
   * @example
   * ```ts
   * courier.messages.registerProvider({
   *   name: 'telegram',
   *   channels: ['telegram'],
   *   async send(message) {
   *     const res = await fetch(`https://api.telegram.org/bot${token}/sendMessage`, { method: 'POST', body: JSON.stringify({ chat_id: message.to, text: message.text }) });
   *     return res.ok ? { outcome: 'ok', providerMessageId: String((await res.json()).result.message_id) } : { outcome: 'retry', code: String(res.status), message: res.statusText };
   *   },
   * });
   * ```
   */
  registerProvider(provider: MessageProvider): void {
    if (typeof provider?.name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(provider.name)) {
      throw new ValidationError('registerProvider', 'name', 'must be a provider name (lower-case letters, digits, _ -)');
    }
    if (typeof provider.send !== 'function') throw new ValidationError('registerProvider', 'send', 'must be a function');
    if (!Array.isArray(provider.channels) || provider.channels.length === 0) throw new ValidationError('registerProvider', 'channels', 'must list at least one channel');
    this.#custom.set(provider.name, provider);
    this.#ensureTasks();
  }

  /**
   * Adds a channel (or replaces one's definition).
   *
   * @example
   * ```ts
   * courier.messages.registerChannel({ name: 'telegram', normalize: (to) => (/^-?\d+$/.test(to) ? to : null), rateLimit: '30/s' });
   * ```
   */
  registerChannel(channel: ChannelDefinition): void {
    if (typeof channel?.name !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(channel.name)) {
      throw new ValidationError('registerChannel', 'name', 'must be a channel name (lower-case letters, digits, _)');
    }
    this.#channels.set(channel.name, channel);
  }

  /**
   * Registered channel names.
   *
   * @example
   * ```ts
   * courier.messages.channels(); // ['email', 'sms', 'whatsapp', 'voice', 'in_person', …]
   * ```
   */
  channels(): Channel[] {
    return [...this.#channels.keys()];
  }

  /**
   * Names of the providers configured or registered in this process.
   *
   * @example
   * ```ts
   * if (!courier.messages.providers().includes('smtp')) console.warn('no SMTP settings in this process');
   * ```
   */
  providers(): string[] {
    return [...new Set([...this.#custom.keys(), ...this.#builtin.keys()])];
  }

  /**
   * Records a message and enqueues its send task in one transaction (the caller's,
   * with `tx`), and returns the message id. `voice` and `in_person` messages are
   * recorded only; update them with {@link Messages.markDelivered} and notes.
   *
   * @example
   * ```ts
   * const id = await courier.messages.send({ channel: 'email', to: 'ana@example.test', subject: 'Welcome',
   *   template: { text: 'Hi {{name}}', html: '<p>Hi {{name}}</p>' }, variables: { name: 'Ana' } });
   * ```
   */
  async send(input: SendMessageInput, options: SendOptions = {}): Promise<string> {
    const m = parse(sendInputSchema, input, 'messages.send');
    const channel = this.#channel(m.channel, 'messages.send');
    const recipient = this.#recipient(channel, m.to, 'messages.send', 'to');
    if (m.body === undefined && m.template === undefined && m.html === undefined && !m.media?.length && !channel.manual) {
      throw new ValidationError('messages.send', 'body', 'is required (or give template, html or media)');
    }
    if (m.provider !== undefined && !channel.manual && !this.#provider(m.channel, m.provider)) {
      throw new ValidationError('messages.send', 'provider', `must be a provider configured for channel "${m.channel}"`);
    }
    const mediaItems = toMediaItems(m.media);
    let fallback: unknown = m.fallback ?? null;
    const other = this.#fallbackChannel('messages.send', m.channel, m.fallback);
    if (other && m.fallback && 'channel' in m.fallback) fallback = { ...m.fallback, to: this.#recipient(other, m.fallback.to ?? m.to, 'messages.send', 'fallback.to') };
    if (!channel.manual) this.#checkContent('messages.send', m.channel, m.provider ?? null, m.template ?? null, m.body ?? (typeof m.template === 'string' ? m.template : null), mediaItems);
    const id = randomUUID();
    const row = {
      id,
      channel: m.channel,
      recipient,
      sender: m.from ?? null,
      subject: m.subject ?? null,
      body: m.body ?? null,
      html: m.html ?? null,
      template: m.template ?? null,
      variables: m.variables ?? null,
      media: mediaItems.length > 0 ? mediaItems.map((x) => x.url) : null,
      mediaItems: m.media?.some((x) => typeof x !== 'string') ? mediaItems : null,
      fallback,
      provider: m.provider ?? null,
      batchId: null,
      taskId: null as string | null,
      parentId: null,
      idempotencyKey: m.idempotencyKey ?? null,
      email: this.#emailOptions(m),
      sendAt: m.sendAt ?? null,
      quietHours: m.quietHours ?? null,
      expiresAt: m.expiresAt ?? null,
    };
    if (channel.manual) {
      return (await insertMessage(this.#runner(options.tx, 'messages.send') ?? this.#host.pool, this.#names, row)) ?? id;
    }
    this.#ensureTasks();
    const enqueue = (db: Queryable) =>
      this.#host.enqueueTask(SEND_TASK, { messageId: id }, { tx: db, ...this.#config.sendTask, ...(m.priority ? { priority: m.priority } : {}), ...(m.sendAt ? { runAt: m.sendAt } : {}) });
    const write = async (db: Queryable): Promise<string> => {
      if (row.idempotencyKey === null) {
        row.taskId = await enqueue(db);
        await insertMessage(db, this.#names, row);
        return id;
      }
      // The key first: a second caller waits here for the first to commit, then gets its id.
      const existing = await insertMessage(db, this.#names, row);
      if (existing) return existing;
      await db.query(`UPDATE ${this.#names.messages} SET task_id = $2 WHERE id = $1`, [id, await enqueue(db)]);
      return id;
    };
    const tx = this.#runner(options.tx, 'messages.send');
    return tx ? write(tx) : inTransaction(this.#host.pool, write);
  }

  /**
   * The message with this id, or `null`.
   *
   * @example
   * ```ts
   * const m = await courier.messages.get(id);
   * console.log(m?.status, m?.providerMessageId, m?.error);
   * ```
   */
  async get(id: string): Promise<MessageInfo | null> {
    const uuid = uuidOrNull(id);
    if (!uuid) return null;
    const row = await selectMessage(this.#host.pool, this.#names, uuid);
    return row ? { ...toMessageInfo(row), followUps: await selectFollowUps(this.#host.pool, this.#names, uuid) } : null;
  }

  /**
   * The send ledger of a message: one entry per request handed to a provider.
   *
   * @example
   * ```ts
   * for (const a of await courier.messages.attempts(id)) console.log(a.provider, a.outcome, a.error);
   * ```
   */
  attempts(id: string): Promise<MessageAttempt[]> {
    const uuid = uuidOrNull(id);
    return uuid ? selectAttempts(this.#host.pool, this.#names, uuid) : Promise.resolve([]);
  }

  /**
   * Provider events and notes of a message, oldest first.
   *
   * @example
   * ```ts
   * const history = await courier.messages.events(id); // provider callbacks and manual updates, oldest first
   * ```
   */
  events(id: string): Promise<MessageEvent[]> {
    const uuid = uuidOrNull(id);
    return uuid ? selectEvents(this.#host.pool, this.#names, uuid) : Promise.resolve([]);
  }

  /**
   * Moves a message to `status` by hand (forward only; e.g. a voice call answered,
   * a letter handed over), with an optional note. Returns false when the message
   * does not exist or is already further along.
   *
   * @example
   * ```ts
   * await courier.messages.update(callId, { status: 'delivered', note: 'answered by the patient' });
   * ```
   */
  async update(id: string, change: { status?: MessageStatus; note?: string; error?: string }): Promise<boolean> {
    const uuid = uuidOrNull(id);
    if (!uuid) return false;
    if (change.status !== undefined && !MESSAGE_STATUSES.includes(change.status)) throw new ValidationError('messages.update', 'status', `must be one of ${MESSAGE_STATUSES.join(', ')}`);
    if (change.note !== undefined && (typeof change.note !== 'string' || change.note.length > 10_000)) throw new ValidationError('messages.update', 'note', 'must be a string of at most 10000 characters');
    return inTransaction(this.#host.pool, async (db) => {
      const row = await selectMessage(db, this.#names, uuid);
      if (!row) return false;
      let moved = false;
      if (change.status && canAdvance(row.status, change.status)) {
        const err = change.error !== undefined ? { code: 'manual', text: change.error.slice(0, 2000) } : null;
        moved = (await setStatus(db, this.#names, uuid, change.status, err)) === change.status;
        if (moved && (change.status === 'delivered' || change.status === 'read')) {
          await db.query(`UPDATE ${this.#names.messages} SET delivered_at = coalesce(delivered_at, now()) WHERE id = $1`, [uuid]);
        }
      }
      if (change.status || change.note) await insertManualEvent(db, this.#names, uuid, change.status ?? null, change.note ?? null, moved);
      return moved || (change.status === undefined && change.note !== undefined);
    });
  }

  /**
   * Marks a message delivered by hand (voice, in-person), with an optional note.
   *
   * @example
   * ```ts
   * await courier.messages.markDelivered(visitId, 'handed over at the desk');
   * ```
   */
  markDelivered(id: string, note?: string): Promise<boolean> {
    return this.update(id, { status: 'delivered', ...(note !== undefined ? { note } : {}) });
  }

  /**
   * Adds a note to a message's history.
   *
   * @example
   * ```ts
   * await courier.messages.addNote(callId, 'left a voicemail');
   * ```
   */
  async addNote(id: string, note: string): Promise<boolean> {
    return this.update(id, { note });
  }

  /**
   * Creates a batch, its messages and their send tasks in one statement and
   * returns the batch id. Per-recipient `variables` are merged over the shared ones;
   * recipients already suppressed on the channel are recorded as failed.
   *
   * @example
   * ```ts
   * const batchId = await courier.messages.sendBulk({
   *   channel: 'sms',
   *   recipients: [{ to: '+15551230001', variables: { name: 'Ana' } }, '+15551230002'],
   *   template: 'Hi {{name}}, your order shipped',
   *   variables: { name: 'there' },
   * });
   * await courier.messages.batch(batchId).done();
   * ```
   */
  async sendBulk(input: SendBulkInput, options: SendOptions = {}): Promise<string> {
    const b = parse(sendBulkInputSchema, input, 'messages.sendBulk');
    const channel = this.#channel(b.channel, 'messages.sendBulk');
    if (channel.manual) throw new ValidationError('messages.sendBulk', 'channel', `must be a sending channel; "${b.channel}" is tracked only`);
    if (b.provider !== undefined && !this.#provider(b.channel, b.provider)) {
      throw new ValidationError('messages.sendBulk', 'provider', `must be a provider configured for channel "${b.channel}"`);
    }
    this.#checkContent('messages.sendBulk', b.channel, b.provider ?? null, b.template, typeof b.template === 'string' ? b.template : null, []);
    const other = this.#fallbackChannel('messages.sendBulk', b.channel, b.fallback);
    if (b.fallback && 'channel' in b.fallback && b.fallback.to !== undefined) throw new ValidationError('messages.sendBulk', 'fallback.to', 'is per recipient in a batch: give recipients[].fallbackTo');
    const fallbacks: Array<string | null> = [];
    const recipients: string[] = [];
    const vars: Array<string | null> = [];
    const keys: Array<string | null> = [];
    const quiet: Array<string | null> = [];
    const seen = new Set<string>();
    for (const [i, r] of b.recipients.entries()) {
      const to = typeof r === 'string' ? r : r.to;
      recipients.push(this.#recipient(channel, to, 'messages.sendBulk', `recipients.${i}`));
      vars.push(typeof r === 'string' || !r.variables ? null : JSON.stringify(r.variables));
      const key = typeof r === 'string' ? null : (r.idempotencyKey ?? null);
      if (key !== null && seen.has(key)) throw new ValidationError('messages.sendBulk', `recipients.${i}.idempotencyKey`, 'must be unique within the batch');
      if (key !== null) seen.add(key);
      keys.push(key);
      const zone = typeof r === 'string' ? undefined : r.timeZone;
      quiet.push(b.quietHours ? JSON.stringify({ ...b.quietHours, ...(zone ? { timeZone: zone } : {}) }) : null);
      const fallbackTo = typeof r === 'string' ? undefined : r.fallbackTo;
      if (fallbackTo !== undefined && !other) throw new ValidationError('messages.sendBulk', `recipients.${i}.fallbackTo`, 'needs the batch\'s fallback on another channel');
      fallbacks.push(b.fallback ? JSON.stringify(other && 'channel' in b.fallback ? this.#bulkFallback(b.fallback, b.variables, typeof r === 'string' ? undefined : r.variables, this.#recipient(other, fallbackTo ?? to, 'messages.sendBulk', fallbackTo !== undefined ? `recipients.${i}.fallbackTo` : `recipients.${i}`)) : b.fallback) : null);
    }
    this.#ensureTasks();
    const batchId = randomUUID();
    const db = this.#runner(options.tx, 'messages.sendBulk') ?? this.#host.pool;
    await insertBulk(db, this.#names, {
      batchId,
      channel: b.channel,
      provider: b.provider ?? null,
      name: b.name ?? null,
      template: b.template,
      variables: b.variables ?? null,
      subject: b.subject ?? null,
      sender: b.from ?? null,
      expiresAt: b.expiresAt ?? null,
      ids: recipients.map(() => randomUUID()),
      recipients,
      recipientVariables: vars,
      idempotencyKeys: keys,
      sendAt: b.sendAt ?? null,
      quietHours: quiet,
      fallbacks,
      task: { queue: MESSAGES_QUEUE, name: SEND_TASK, priority: b.priority ?? 5, ...this.#config.sendTask },
    });
    return batchId;
  }

  /**
   * Progress of a batch: `{ total, completed, failed, active, progress }`, or `null`.
   *
   * @example
   * ```ts
   * const p = await courier.messages.getBatch(batchId);
   * console.log(`${p?.progress}% (${p?.completed} sent, ${p?.failed} failed)`);
   * ```
   */
  getBatch(id: string): Promise<BatchProgress | null> {
    const uuid = uuidOrNull(id);
    return uuid ? selectBatch(this.#host.pool, this.#names, uuid) : Promise.resolve(null);
  }

  /**
   * A handle on a batch, e.g. `await courier.messages.batch(id).done()`.
   *
   * @example
   * ```ts
   * const final = await courier.messages.batch(batchId).done({ timeout: 600 });
   * ```
   */
  batch(id: string): BatchHandle {
    const get = () => this.getBatch(id);
    return {
      id,
      get,
      async done(options = {}) {
        const interval = (options.interval ?? 0.5) * 1000;
        const deadline = options.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeout * 1000;
        for (;;) {
          options.signal?.throwIfAborted();
          const p = await get();
          if (!p) throw new ValidationError('batch.done', 'id', 'must be the id of an existing batch');
          if (p.active === 0) return p;
          if (Date.now() >= deadline) throw new Error(`batch ${id} not done after ${options.timeout}s (${p.active} of ${p.total} still active)`);
          await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
        }
      },
    };
  }

  /**
   * Batches, newest first, with progress.
   *
   * @example
   * ```ts
   * const recent = await courier.messages.listBatches({ limit: 10 });
   * ```
   */
  listBatches(options: { limit?: number; before?: Date } = {}): Promise<BatchProgress[]> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ValidationError('messages.listBatches', 'limit', 'must be an integer from 1 to 500');
    return selectBatches(this.#host.pool, this.#names, limit, options.before ?? null);
  }

  /**
   * Message counts per channel and status, and in total.
   *
   * @example
   * ```ts
   * const { channels, total } = await courier.messages.status();
   * console.log(channels.sms?.delivered, total.failed);
   * ```
   */
  async status(): Promise<MessageQueueStatus> {
    const { rows } = await this.#host.pool.query<{ channel: string; status: MessageStatus; n: string }>(
      `SELECT channel, status, count(*) AS n FROM ${this.#names.messages} GROUP BY channel, status`,
    );
    const empty = (): StatusCounts => ({ ...(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>), total: 0 });
    const channels: Record<string, StatusCounts> = {};
    const total = empty();
    for (const r of rows) {
      const c = (channels[r.channel] ??= empty());
      for (const x of [c, total]) {
        x[r.status] += Number(r.n);
        x.total += Number(r.n);
      }
    }
    return { channels, total };
  }

  /**
   * Stops sending to a recipient on a channel (sends to it fail with `suppressed`):
   * from every sender, or from one sender only (`{ sender }`: a number, messaging
   * service or address, as a STOP to that number would).
   *
   * @example
   * ```ts
   * await courier.messages.suppress('email', 'bounced@example.test', 'hard bounce');
   * await courier.messages.suppress('sms', '+15551234567', 'asked us to stop', { sender: '+15550001111' });
   * ```
   */
  async suppress(channel: Channel, recipient: string, reason = 'manual', options: { sender?: string } = {}): Promise<void> {
    const def = this.#channel(channel, 'messages.suppress');
    await insertSuppression(this.#host.pool, this.#names, {
      channel,
      recipient: this.#recipient(def, recipient, 'messages.suppress', 'recipient'),
      sender: options.sender ?? '',
      reason,
      code: null,
      messageId: null,
    });
  }

  /**
   * Lifts the suppressions of a recipient on a channel (all of them, or only the one
   * for `{ sender }`). Returns whether one existed.
   *
   * @example
   * ```ts
   * await courier.messages.unsuppress('sms', '+15551234567');
   * ```
   */
  async unsuppress(channel: Channel, recipient: string, options: { sender?: string } = {}): Promise<boolean> {
    const def = this.#channel(channel, 'messages.unsuppress');
    const { rowCount } = await this.#host.pool.query(`DELETE FROM ${this.#names.suppressions} WHERE channel = $1 AND recipient = $2 AND ($3::text IS NULL OR sender = $3)`, [
      channel,
      this.#recipient(def, recipient, 'messages.unsuppress', 'recipient'),
      options.sender ?? null,
    ]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * The suppression that stops sends to a recipient on a channel, or `null`: the one
   * for every sender first, else (with `{ sender }`) that sender's, else (without)
   * any sender's. `sender` is `null` for a suppression of every sender.
   *
   * @example
   * ```ts
   * const s = await courier.messages.suppression('email', 'ana@example.test'); // null when sends are allowed
   * ```
   */
  async suppression(channel: Channel, recipient: string, options: { sender?: string } = {}): Promise<{ reason: string; code: string | null; sender: string | null; createdAt: Date } | null> {
    const def = this.#channel(channel, 'messages.suppression');
    const { rows } = await this.#host.pool.query<{ reason: string; error_code: string | null; sender: string; created_at: Date }>(
      `SELECT reason, error_code, sender, created_at FROM ${this.#names.suppressions}
        WHERE channel = $1 AND recipient = $2 AND (sender = '' OR $3::text IS NULL OR sender = $3)
        ORDER BY sender = '' DESC, created_at LIMIT 1`,
      [channel, this.#recipient(def, recipient, 'messages.suppression', 'recipient'), options.sender ?? null],
    );
    const r = rows[0];
    return r ? { reason: r.reason, code: r.error_code, sender: r.sender === '' ? null : r.sender, createdAt: r.created_at } : null;
  }

  /**
   * Provider gates paused now (rate-limit answers, configuration errors).
   *
   * @example
   * ```ts
   * for (const g of await courier.messages.pausedProviders()) console.log(g.key, g.seconds, g.reason);
   * ```
   */
  pausedProviders(): Promise<Array<{ key: string; seconds: number; reason: string | null }>> {
    return this.#gates.paused();
  }

  /**
   * Lifts the pause of a provider gate (a key from {@link Messages.pausedProviders}).
   *
   * @example
   * ```ts
   * await courier.messages.resumeProvider('twilio:AC…');
   * ```
   */
  resumeProvider(key: string): Promise<void> {
    return this.#gates.resume(key);
  }

  /**
   * Deletes finished messages (not queued, pending or sending) created more than
   * `olderThan` seconds ago (default 7 days), with their ledger and events, in
   * batches of `batchSize` rows, then the batches left empty. Returns the counts.
   * Suitable for the periodic `cleanup` task.
   *
   * @example
   * ```ts
   * const { messages, batches } = await courier.messages.cleanup({ olderThan: 30 * 86_400 });
   * ```
   */
  async cleanup(options: { olderThan?: number; batchSize?: number } = {}): Promise<{ messages: number; batches: number }> {
    const olderThan = options.olderThan ?? 7 * 86_400;
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isFinite(olderThan) || olderThan < 0) throw new ValidationError('messages.cleanup', 'olderThan', 'must be a number of seconds >= 0');
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new ValidationError('messages.cleanup', 'batchSize', 'must be an integer from 1 to 100000');
    let messages = 0;
    for (;;) {
      const { rowCount } = await this.#host.pool.query(
        `WITH doomed AS (
           SELECT id FROM ${this.#names.messages}
            WHERE created_at < now() - make_interval(secs => $1) AND status NOT IN ('queued', 'pending', 'sending')
            ORDER BY created_at LIMIT $2
            FOR UPDATE SKIP LOCKED)
         DELETE FROM ${this.#names.messages} m USING doomed WHERE m.id = doomed.id`,
        [olderThan, batchSize],
      );
      messages += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) break;
    }
    const { rowCount: batches } = await this.#host.pool.query(
      `DELETE FROM ${this.#names.batches} b
        WHERE b.created_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM ${this.#names.messages} m WHERE m.batch_id = b.id)`,
      [olderThan],
    );
    return { messages, batches: batches ?? 0 };
  }

  /**
   * Asks the provider about a message whose outcome is `unknown` (a request that
   * may have arrived), and answers what happened (see {@link ReconcileOutcome}):
   * - Twilio: a lookup by recipient, sender and time: `found` (the message becomes
   *   `sent` with Twilio's id; its webhooks then apply as usual) or `not_found`.
   * - Resend: `GET /emails/{id}` when Resend's id is known; otherwise the same
   *   request again under the message's `Idempotency-Key`, while Resend still holds
   *   the key (24 h from the first request): Resend answers a repeat with the
   *   original email's id and sends nothing (`found`), or sends it now if it never
   *   received it (`sent`); never twice. Past the 24 h it answers `expired`.
   * A message that stays `unknown` may be sent again with {@link Messages.resend}.
   *
   * @example
   * ```ts
   * const r = await courier.messages.reconcile(id);
   * if (r.outcome === 'not_found') await courier.messages.resend(id);
   * ```
   */
  reconcile(id: string): Promise<ReconcileResult> {
    return reconcileMessage(
      {
        pool: this.#host.pool,
        names: this.#names,
        logger: this.#host.logger,
        gates: this.#gates,
        provider: (channel, name) => this.#provider(channel, name),
        rate: (provider, channel) => this.#rate(provider, channel),
        unsubscribe: () => this.#config.unsubscribe,
        secrets: () => this.#secrets(),
      },
      id,
    );
  }

  /**
   * Sends a message again, explicitly, as a new linked message (`relation:
   * 'resend'`, same content and recipient): for an `unknown` message the provider
   * does not have, or a `failed` / `undelivered` one. Returns the new message's id.
   *
   * @example
   * ```ts
   * const again = await courier.messages.resend(id);
   * ```
   */
  async resend(id: string): Promise<string> {
    const uuid = uuidOrNull(id);
    const row = uuid ? await selectMessage(this.#host.pool, this.#names, uuid) : null;
    if (!row || !uuid) throw new NotFoundError(`message ${id} does not exist`);
    if (!['unknown', 'failed', 'undelivered'].includes(row.status)) throw new StateError(`message ${id} is ${row.status}; only unknown, failed or undelivered messages are resent`);
    const [already] = await selectFollowUps(this.#host.pool, this.#names, uuid);
    if (already) throw new StateError(`message ${id} was already followed up by message ${already.id} (${already.relation}); resend that one`);
    const next = randomUUID();
    this.#ensureTasks();
    await inTransaction(this.#host.pool, async (db) => {
      const taskId = await this.#host.enqueueTask(SEND_TASK, { messageId: next }, { tx: db, ...this.#config.sendTask });
      await insertFollowUp(db, this.#names, { id: next, parentId: uuid, relation: 'resend', taskId });
    });
    return next;
  }

  /**
   * Applies a bounce or delay report: a Delivery Status Notification (RFC 3464,
   * `multipart/report; report-type=delivery-status`) as it arrived in the bounce
   * mailbox (feed it from your inbound mail hook, or POST it to `pgcourier/http`'s
   * `/webhooks/dsn`). The message is found by the returned `Message-ID` (`<message
   * id@domain>`), `X-Courier-Message-Id` or `Original-Envelope-Id`, or by
   * `options.messageId`. Only the report's entries for the message's own recipient
   * apply (a bounce for a copy recipient does not touch it): `failed` moves it to
   * `undelivered` and, for a mailbox code (5.1.1, 5.2.1…), suppresses the
   * recipient; `delivered` / `delayed` are recorded. Applying the same report twice
   * changes nothing. `found` is false when the report names no stored message.
   *
   * @example
   * ```ts
   * const { messageId } = await courier.messages.applyDsn(rawBounceEmail);
   * // Only the delivery-status part, for a message you name:
   * await courier.messages.applyDsn(statusFields, { contentType: 'message/delivery-status', messageId });
   * ```
   */
  async applyDsn(
    raw: string | Uint8Array,
    options: {
      /** Media type of `raw`: `message/rfc822` (the whole bounce email, the default), `multipart/report; boundary=…` or `message/delivery-status`. */
      contentType?: string;
      /** The message the report is about, when the report does not name it. */
      messageId?: string;
    } = {},
  ): Promise<{ messageId: string | null; recipients: number; found: boolean }> {
    if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) throw new ValidationError('messages.applyDsn', 'raw', 'must be a string or bytes');
    const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
    const dsn = options.contentType === undefined ? parseDsn(text) : parseDsnBody(text, options.contentType);
    if (!dsn) throw new ValidationError('messages.applyDsn', 'raw', 'must be a delivery status notification (multipart/report with a message/delivery-status part, or a message/delivery-status body)');
    let messageId = dsn.messageId;
    if (options.messageId !== undefined) {
      const given = uuidOrNull(options.messageId);
      if (!given) throw new ValidationError('messages.applyDsn', 'messageId', 'must be a message id (UUID)');
      if (messageId !== null && messageId !== given) throw new ValidationError('messages.applyDsn', 'messageId', 'must be the message the report names');
      messageId = given;
    }
    if (!messageId) return { messageId: null, recipients: 0, found: false };
    const row = await selectMessage(this.#host.pool, this.#names, messageId);
    if (!row) return { messageId, recipients: 0, found: false };
    const own = dsn.recipients.filter((r) => r.recipient === row.recipient.toLowerCase());
    for (const r of own) {
      const status: MessageStatus = r.action === 'failed' ? 'undelivered' : r.action === 'delivered' ? 'delivered' : 'sent';
      const reply = Number(/\b([245]\d\d)\b/.exec(r.diagnostic ?? '')?.[1] ?? (r.status?.startsWith('4') ? 450 : 550));
      const response = `${reply} ${r.status ?? ''} ${(r.diagnostic ?? '').replace(/^[^;]*;\s*/, '')}`.trim();
      await this.#applyEvent({
        source: 'dsn',
        provider: 'smtp',
        eventKey: `${dsn.originalMessageId ?? messageId}:${r.recipient}:${r.action}`.slice(0, 500),
        status,
        errorCode: r.action === 'failed' || r.action === 'delayed' ? r.status : null,
        errorText: r.action === 'failed' || r.action === 'delayed' ? response.slice(0, 500) : null,
        payload: r,
        messageId,
        providerMessageId: dsn.originalMessageId,
        classified: r.action === 'failed' ? classifySmtp({ responseCode: reply, response, command: 'RCPT TO' }) : null,
      });
    }
    return { messageId, recipients: own.length, found: true };
  }

  /**
   * Lets providers release what they hold (`MessageProvider.close`).
   *
   * @example
   * ```ts
   * await courier.messages.close(); // courier.close() calls it for you
   * ```
   */
  async close(): Promise<void> {
    for (const p of [...this.#builtin.values(), ...this.#custom.values()]) await p.close?.();
  }

  // ------------------------------------------------------------------ internals

  #buildProviders(): Map<string, MessageProvider> {
    const c = this.#config;
    const out = new Map<string, MessageProvider>();
    if (c.smtp) out.set('smtp', smtpProvider(c.smtp));
    if (c.resend) out.set('resend', resendProvider(c.resend));
    if (c.whatsapp) out.set('meta', metaProvider(c.whatsapp));
    if (c.twilio) out.set('twilio', twilioProvider(c.twilio));
    return out;
  }

  #buildGates(): Gates {
    return new Gates({
      db: this.#host.pool,
      names: this.#names,
      limiter: (key, spec) => this.#host.rateLimiter(key, spec),
      margin: this.#config.gates.margin,
      maxWait: this.#config.gates.maxWait,
    });
  }

  #ensureTasks(): void {
    const reg = this.#host.registry;
    if (this.#tasksRegistered && reg.get(SEND_TASK) === this.#sendTask && reg.get(EMAILJS_TASK) === this.#submissionTask) return;
    reg.register(this.#sendTask);
    reg.register(this.#submissionTask);
    this.#tasksRegistered = true;
  }

  #channel(name: string, where: string): ChannelDefinition {
    const def = this.#channels.get(name);
    if (!def) throw new ValidationError(where, 'channel', `must be a registered channel (${[...this.#channels.keys()].join(', ')})`);
    return def;
  }

  #recipient(channel: ChannelDefinition, to: string, where: string, field: string): string {
    const value = channel.normalize ? channel.normalize(to) : to.trim() || null;
    if (!value) {
      const what = channel.name === 'email' ? 'an email address' : channel.name === 'sms' || channel.name === 'whatsapp' ? 'an E.164 phone number such as +15551234567' : `a valid ${channel.name} recipient`;
      throw new ValidationError(where, field, `must be ${what}`);
    }
    return value;
  }

  #provider(channel: string, name: string | null): MessageProvider | undefined {
    const supports = (p: MessageProvider | undefined) => (p?.channels.includes(channel) ? p : undefined);
    if (name) return supports(this.#custom.get(name) ?? this.#builtin.get(name));
    const preferred = this.#channels.get(channel)?.provider;
    if (preferred) {
      const p = supports(this.#custom.get(preferred) ?? this.#builtin.get(preferred));
      if (p) return p;
    }
    for (const p of [...this.#custom.values(), ...this.#builtin.values()]) if (p.channels.includes(channel)) return p;
    return undefined;
  }

  /** Checks a cross-channel `fallback` (channel, provider, content) and returns its channel; `null` for none or a window template. */
  #fallbackChannel(where: string, channel: string, fb: SendMessageInput['fallback']): ChannelDefinition | null {
    if (!fb || !('channel' in fb)) return null;
    const other = this.#channel(fb.channel, where);
    if (other.manual || fb.channel === channel) throw new ValidationError(where, 'fallback.channel', 'must be another sending channel');
    if (fb.provider !== undefined && !this.#provider(fb.channel, fb.provider)) throw new ValidationError(where, 'fallback.provider', `must be a provider configured for channel "${fb.channel}"`);
    this.#checkContent(where, fb.channel, fb.provider ?? null, fb.template ?? null, fb.body ?? (typeof fb.template === 'string' ? fb.template : null), []);
    return other;
  }

  /** A bulk recipient's cross-channel fallback: its address there, and the batch's and its own variables under the fallback's. */
  #bulkFallback(fb: ChannelFallback, shared: TemplateVariables | undefined, own: TemplateVariables | undefined, to: string): ChannelFallback & { to: string } {
    const variables = { ...shared, ...own, ...fb.variables };
    return { ...fb, to, ...(Object.keys(variables).length > 0 ? { variables } : {}) };
  }

  /** The email options of a send (reply-to, copies, headers, attachments, unsubscribe), or `null`. */
  #emailOptions(m: SendMessageInput): StoredEmailOptions | null {
    const o: StoredEmailOptions = {};
    if (m.replyTo !== undefined) o.replyTo = m.replyTo;
    if (m.cc?.length) o.cc = m.cc;
    if (m.bcc?.length) o.bcc = m.bcc;
    if (m.headers && Object.keys(m.headers).length > 0) o.headers = m.headers;
    if (m.attachments?.length) o.attachments = m.attachments;
    if (m.unsubscribe !== undefined) o.unsubscribe = m.unsubscribe;
    if (Object.keys(o).length === 0) return null;
    if (m.channel !== 'email') throw new ValidationError('messages.send', Object.keys(o)[0] as string, 'is for email only');
    if (m.unsubscribe && !this.#config.unsubscribe) throw new ValidationError('messages.send', 'unsubscribe', 'needs providers.unsubscribe ({ url, secret })');
    return o;
  }

  /** Refuses content the chosen provider cannot send (a template of another provider's kind, several WhatsApp media). */
  #checkContent(where: string, channel: string, provider: string | null, template: unknown, text: string | null, mediaItems: MediaItem[]): void {
    const p = this.#provider(channel, provider);
    const providerTemplate = isProviderTemplate(template as MessageTemplate) ? (template as WhatsAppTemplate | ContentTemplate) : null;
    if (!p) {
      // No provider in this process (an enqueue-only web server): the kind still says which provider it needs.
      if (providerTemplate && channel === 'email') throw new ValidationError(where, 'template', 'must not be a WhatsApp or Twilio Content template on email');
      return;
    }
    const problem = p.validate?.({ channel, template: providerTemplate, text, media: mediaItems.map((x) => x.url), mediaItems });
    if (problem) throw new ValidationError(where, providerTemplate ? 'template' : 'media', `is not sendable through provider "${p.name}": ${problem}`);
  }

  #rate(provider: MessageProvider, channel: string): RateLimitSpec {
    return (provider.rateLimit ?? this.#config.rateLimits[channel] ?? this.#channels.get(channel)?.rateLimit ?? '10/s') as RateLimitSpec;
  }

  #secrets(): string[] {
    const c = this.#config;
    const list = [
      c.smtp?.auth?.pass,
      c.resend?.apiKey,
      c.resend?.webhookSecret,
      c.twilio?.authToken,
      c.twilio?.webhookSigningKey,
      c.whatsapp?.accessToken,
      c.whatsapp?.appSecret,
      c.whatsapp?.verifyToken,
      c.emailjs?.privateKey,
      c.emailjs?.webhookSecret,
      c.emailjs?.captcha?.secret,
      c.unsubscribe?.secret,
    ];
    for (const p of [...this.#builtin.values(), ...this.#custom.values()]) list.push(...(p.secrets ?? []));
    return list.filter((s): s is string => typeof s === 'string' && s.length > 0);
  }

  /** The caller's transaction (`tx`) as a Queryable, with the same adapters as `enqueueTask`; `undefined` without one. */
  #runner(tx: unknown, where: string): Queryable | undefined {
    return tx === undefined || tx === null ? undefined : transactionQueryable(tx, where);
  }

  /** Applies a provider status event: once, forward only; then its follow-ups, in the same transaction. */
  async #applyEvent(e: ProviderStatusEvent): Promise<void> {
    const clean = { ...e, errorText: e.errorText === null ? null : redact(e.errorText, this.#secrets()).slice(0, 2000) };
    await inTransaction(this.#host.pool, async (db) => {
      const r = await applyStatusEvent(db, this.#names, clean);
      if (!r.message) {
        this.#host.logger.debug({ source: e.source, providerMessageId: e.providerMessageId }, 'status event for an unknown message ignored');
        return;
      }
      if (!r.fresh) return;
      if (e.classified?.outcome === 'permanent_recipient') {
        await insertSuppression(db, this.#names, { channel: r.message.channel, recipient: r.message.recipient, reason: (clean.errorText ?? 'reported by provider').slice(0, 300), code: e.errorCode, messageId: r.message.id });
      }
      if (!r.moved || (r.message.status !== 'failed' && r.message.status !== 'undelivered')) return;
      if (isWindowCode(e.errorCode) && (await this.#followUp(db, r.message))) return;
      if (e.classified?.outcome === 'retry' && (await this.#deliveryRetry(db, r.message))) return;
      await this.#channelFallback(db, r.message);
    });
  }

  /**
   * Records an inbound message once; STOP suppresses the recipient for the senders
   * it was sent to, START lifts those suppressions, HELP is recorded.
   */
  async #applyInbound(e: InboundEvent): Promise<void> {
    await inTransaction(this.#host.pool, async (db) => {
      const { rowCount } = await db.query(
        `INSERT INTO ${this.#names.inbound} (channel, provider, provider_message_id, recipient, sender, body, keyword)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, provider_message_id) DO NOTHING`,
        [e.channel, e.provider, e.providerMessageId, e.recipient, e.senders[0] ?? '', e.body?.slice(0, 2000) ?? null, e.keyword],
      );
      if ((rowCount ?? 0) === 0) return;
      if (e.keyword === 'stop') {
        for (const sender of e.senders) {
          await insertSuppression(db, this.#names, { channel: e.channel, recipient: e.recipient, sender, reason: 'the recipient replied STOP', code: 'inbound_stop', messageId: null });
        }
      } else if (e.keyword === 'start') {
        await db.query(`DELETE FROM ${this.#names.suppressions} WHERE channel = $1 AND recipient = $2 AND sender = ANY($3::text[])`, [e.channel, e.recipient, e.senders]);
      }
    });
    if (e.keyword) this.#host.logger.info({ channel: e.channel, provider: e.provider, keyword: e.keyword }, 'inbound keyword applied');
  }

  /**
   * The cross-channel fallback of a message that failed for good: a new message on
   * the fallback's channel (`relation: 'channel_fallback'`), once.
   */
  async #channelFallback(db: Queryable, parent: MessageRow): Promise<string | null> {
    const fb = parent.fallback as (ChannelFallback & { to: string }) | null;
    if (!fb?.channel) return null;
    const exists = await db.query(`SELECT 1 FROM ${this.#names.messages} WHERE parent_id = $1 AND relation = 'channel_fallback' LIMIT 1`, [parent.id]);
    if ((exists.rowCount ?? 0) > 0) return null;
    const id = randomUUID();
    this.#ensureTasks();
    const taskId = await this.#host.enqueueTask(SEND_TASK, { messageId: id }, { tx: db, ...this.#config.sendTask });
    await insertMessage(db, this.#names, {
      id,
      channel: fb.channel,
      recipient: fb.to,
      sender: null,
      subject: fb.subject ?? null,
      body: fb.body ?? null,
      html: null,
      template: fb.template ?? null,
      variables: fb.variables ?? null,
      media: null,
      fallback: null,
      provider: fb.provider ?? null,
      batchId: parent.batch_id,
      taskId,
      parentId: parent.id,
      relation: 'channel_fallback',
      expiresAt: parent.expires_at,
    });
    this.#host.logger.info({ messageId: parent.id, fallback: id, channel: fb.channel }, 'message failed; cross-channel fallback enqueued');
    return id;
  }

  /**
   * Provider failover of a message already tried on a paused provider: a linked
   * message on `provider` (`relation: 'failover'`), enqueued at once; at most as many
   * per chain as the channel has failover providers, so two paused providers cannot
   * hand a message back and forth for ever.
   */
  async #failOver(db: Queryable, parent: MessageRow, provider: string): Promise<string | null> {
    const limit = this.#config.failover?.[parent.channel]?.length ?? 0;
    if ((await chainCount(db, this.#names, parent.id, 'failover')) >= limit) return null;
    const id = randomUUID();
    this.#ensureTasks();
    const taskId = await this.#host.enqueueTask(SEND_TASK, { messageId: id }, { tx: db, ...this.#config.sendTask });
    return (await insertFollowUp(db, this.#names, { id, parentId: parent.id, relation: 'failover', taskId, provider })) ? id : null;
  }

  /**
   * A new attempt, as a linked message (`relation: 'webhook_retry'`), for a delivery
   * failure the provider reported as transient; at most `deliveryRetries.max` per
   * original message, with doubling delays.
   */
  async #deliveryRetry(db: Queryable, parent: MessageRow): Promise<string | null> {
    const { max, delay } = this.#config.deliveryRetries;
    const done = await chainCount(db, this.#names, parent.id, 'webhook_retry');
    if (done >= max) return null;
    const id = randomUUID();
    this.#ensureTasks();
    const taskId = await this.#host.enqueueTask(SEND_TASK, { messageId: id }, { tx: db, ...this.#config.sendTask, delay: delay * 2 ** done });
    await insertFollowUp(db, this.#names, { id, parentId: parent.id, relation: 'webhook_retry', taskId });
    this.#host.logger.info({ messageId: parent.id, retry: id }, 'transient delivery failure; a new attempt is scheduled');
    return id;
  }

  /**
   * Creates the template fallback of a message refused for a closed WhatsApp
   * window: a new message (parent = the refused one) and its task, once.
   */
  async #followUp(db: Queryable, parent: MessageRow): Promise<string | null> {
    const fb = parent.fallback as { channel?: string; template?: unknown; variables?: Record<string, string | number | boolean | null> } | null;
    if (!fb?.template || fb.channel) return null;
    const exists = await db.query(`SELECT 1 FROM ${this.#names.messages} WHERE parent_id = $1 LIMIT 1`, [parent.id]);
    if ((exists.rowCount ?? 0) > 0) return null;
    const id = randomUUID();
    this.#ensureTasks();
    const taskId = await this.#host.enqueueTask(SEND_TASK, { messageId: id }, { tx: db, ...this.#config.sendTask });
    await insertMessage(db, this.#names, {
      id,
      channel: parent.channel,
      recipient: parent.recipient,
      sender: parent.sender,
      subject: null,
      body: null,
      html: null,
      template: fb.template,
      variables: fb.variables ?? null,
      media: null,
      fallback: null,
      provider: parent.provider,
      batchId: parent.batch_id,
      taskId,
      parentId: parent.id,
      relation: 'window_fallback',
      expiresAt: parent.expires_at,
    });
    this.#host.logger.info({ messageId: parent.id, followUp: id }, 'WhatsApp window closed; template fallback enqueued');
    return id;
  }
}
