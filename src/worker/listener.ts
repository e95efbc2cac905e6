import type pg from 'pg';
import type { Logger } from 'pino';
import type { ListenSource } from '../db/connections.js';
import type { HostPort } from '../db/hosts.js';
import { quoteIdent } from '../db/pool.js';

/** Options of a {@link Listener}. */
export interface ListenerOptions {
  /** Where the LISTEN connection goes; listeners with the same source key share one connection. */
  source: ListenSource;
  /** Channel to LISTEN on. */
  channel: string;
  /** Called with each notification's payload. */
  onNotify(payload: string): void;
  /** Called after every (re)connection: notifications may have been missed meanwhile. */
  onConnect(): void;
  logger: Logger;
}

/**
 * One channel LISTENed on a connection shared by every listener of the process
 * with the same source (however many couriers it holds); the connection is
 * re-established, with capped backoff, whenever it drops, and moves with a
 * failover.
 */
export class Listener {
  readonly opts: ListenerOptions;
  #shared: SharedConnection | undefined;
  /** The client this listener's onConnect was last called for. */
  announcedFor: pg.Client | undefined;

  constructor(opts: ListenerOptions) {
    this.opts = opts;
  }

  /** Whether the LISTEN connection is up right now. */
  get connected(): boolean {
    return this.#shared?.listening(this.opts.channel) ?? false;
  }

  /** Listens; resolves after the first try to connect (on failure it keeps retrying in the background). */
  async start(): Promise<void> {
    if (this.#shared) return;
    this.#shared = SharedConnection.for(this.opts.source, this.opts.logger);
    await this.#shared.add(this);
  }

  /** Stops listening; the shared connection closes with its last listener. */
  async stop(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    await shared?.remove(this);
  }
}

const shared = new Map<string, SharedConnection>();

/** The LISTEN connection of one source, and the channels its listeners want. */
class SharedConnection {
  readonly #key: string;
  readonly #source: ListenSource;
  readonly #logger: Logger;
  readonly #listeners = new Set<Listener>();
  #client: pg.Client | undefined;
  readonly #listened = new Set<string>();
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #unmove: (() => void) | undefined;

  static for(source: ListenSource, logger: Logger): SharedConnection {
    let connection = shared.get(source.key);
    if (!connection) {
      connection = new SharedConnection(source, logger);
      shared.set(source.key, connection);
    }
    return connection;
  }

  private constructor(source: ListenSource, logger: Logger) {
    this.#key = source.key;
    this.#source = source;
    this.#logger = logger;
    this.#unmove = source.onMove((server) => this.#moved(server));
  }

  listening(channel: string): boolean {
    return this.#client !== undefined && this.#listened.has(channel);
  }

  async add(listener: Listener): Promise<void> {
    this.#listeners.add(listener);
    if (!this.#client) {
      this.#connecting ??= this.#connect().finally(() => {
        this.#connecting = undefined;
      });
      await this.#connecting;
    }
    const client = this.#client;
    if (!client || !this.#listeners.has(listener)) return;
    try {
      await this.#listen(client, listener.opts.channel);
    } catch (err) {
      this.#lost(client, err as Error);
      return;
    }
    this.#announce(client, listener);
  }

  async remove(listener: Listener): Promise<void> {
    if (!this.#listeners.delete(listener)) return;
    const channel = listener.opts.channel;
    if ([...this.#listeners].some((l) => l.opts.channel === channel)) return;
    const client = this.#client;
    if (this.#listeners.size === 0) {
      shared.delete(this.#key);
      this.#unmove?.();
      clearTimeout(this.#retryTimer);
      this.#client = undefined;
      this.#listened.clear();
      await client?.end().catch(() => {});
      return;
    }
    if (client && this.#listened.delete(channel)) await client.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
  }

  async #listen(client: pg.Client, channel: string): Promise<void> {
    if (this.#listened.has(channel)) return;
    await client.query(`LISTEN ${quoteIdent(channel)}`);
    this.#listened.add(channel);
  }

  /** Tells a listener that its channel is (again) listened on this client, once per client. */
  #announce(client: pg.Client, listener: Listener): void {
    if (listener.announcedFor === client || this.#client !== client) return;
    listener.announcedFor = client;
    listener.opts.onConnect();
  }

  async #connect(): Promise<void> {
    if (this.#listeners.size === 0) return;
    const client = this.#source.newClient();
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client));
    client.on('notification', (msg) => {
      for (const listener of this.#listeners) if (listener.opts.channel === msg.channel) listener.opts.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      this.#listened.clear();
      for (const channel of new Set([...this.#listeners].map((l) => l.opts.channel))) {
        await client.query(`LISTEN ${quoteIdent(channel)}`);
        this.#listened.add(channel);
      }
      if (this.#listeners.size === 0) {
        await client.end().catch(() => {});
        return;
      }
      this.#client = client;
      if (this.#failures > 0) this.#logger.info('LISTEN connection re-established');
      this.#failures = 0;
      for (const listener of this.#listeners) this.#announce(client, listener);
    } catch (err) {
      client.end().catch(() => {});
      this.#logger.warn({ err: (err as Error).message }, 'LISTEN connection failed; retrying');
      this.#scheduleRetry();
    }
  }

  #lost(client: pg.Client, err?: Error): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#listened.clear();
    client.end().catch(() => {});
    if (this.#listeners.size > 0) {
      this.#logger.warn({ err: err?.message }, 'LISTEN connection lost; reconnecting');
      this.#scheduleRetry();
    }
  }

  /** After a failover the connection goes to the new server, even if the old one still answers. */
  #moved(server: HostPort): void {
    const client = this.#client as (pg.Client & { server?: HostPort }) | undefined;
    if (!client || (client.server?.host === server.host && client.server?.port === server.port)) return;
    this.#lost(client, new Error('the database server changed (failover)'));
  }

  #scheduleRetry(): void {
    if (this.#listeners.size === 0) return;
    this.#failures++;
    // Capped at 2 s: the reconnection is also what ends the claim backoff after a failover.
    const delay = Math.min(2000, 100 * 2 ** Math.min(this.#failures - 1, 6));
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#client || this.#connecting) return;
      this.#connecting = this.#connect().finally(() => {
        this.#connecting = undefined;
      });
    }, delay);
  }
}
