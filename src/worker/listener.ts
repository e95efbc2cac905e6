import pg from 'pg';
import type { Logger } from 'pino';
import { quoteIdent } from '../db/pool.js';

/** Options of a {@link Listener}. */
export interface ListenerOptions {
  /** Connection settings for the dedicated LISTEN connection. */
  connection: pg.ClientConfig;
  /** Channel to LISTEN on. */
  channel: string;
  /** Called with each notification's payload (a queue name). */
  onNotify(payload: string): void;
  /** Called after every (re)connection: notifications may have been missed meanwhile. */
  onConnect(): void;
  logger: Logger;
}

/**
 * Holds one dedicated connection in LISTEN and re-establishes it, with capped
 * backoff, whenever it drops.
 */
export class Listener {
  readonly #opts: ListenerOptions;
  #client: pg.Client | undefined;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
  }

  /** Whether the LISTEN connection is up right now. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Connects and listens; on failure keeps retrying in the background. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ ...this.#opts.connection, keepAlive: true });
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => {});
      if (!this.#stopped) {
        this.#opts.logger.warn({ err: err?.message }, 'LISTEN connection lost; reconnecting');
        this.#scheduleRetry();
      }
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => this.#opts.onNotify(msg.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#opts.channel)}`);
      if (this.#stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.#client = client;
      if (this.#failures > 0) this.#opts.logger.info('LISTEN connection re-established');
      this.#failures = 0;
      this.#opts.onConnect();
    } catch (err) {
      client.end().catch(() => {});
      this.#opts.logger.warn({ err: (err as Error).message }, 'LISTEN connection failed; retrying');
      this.#scheduleRetry();
    }
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    this.#failures++;
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures - 1, 6));
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }
}
