import type { Logger } from 'pino';
import type { Queryable } from '../db/pool.js';
import { rescueExpiredLeases } from '../worker/rescue.js';

/**
 * Periodic upkeep every worker runs; an advisory lock inside each statement makes
 * sure only one process does a given job at a time, so no leader is needed.
 */
export class Maintenance {
  readonly #db: Queryable;
  readonly #table: string;
  readonly #schema: string;
  readonly #logger: Logger;
  readonly #onRescued: (ids: string[]) => void;
  readonly #onError: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: { db: Queryable; schema: string; table: string; logger: Logger; onRescued: (ids: string[]) => void; onError: (err: Error) => void }) {
    this.#db = opts.db;
    this.#schema = opts.schema;
    this.#table = opts.table;
    this.#logger = opts.logger;
    this.#onRescued = opts.onRescued;
    this.#onError = opts.onError;
  }

  /** Runs {@link Maintenance.tick} now and then every `interval` seconds. */
  start(interval: number): void {
    this.stop();
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), interval * 1000);
    this.#timer.unref();
  }

  /** Stops the timer; waits for a tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One round of upkeep: rescue tasks whose lease expired. Never throws. */
  async tick(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      try {
        const rescued = await rescueExpiredLeases(this.#db, this.#table, `pgcourier.rescue:${this.#schema}`);
        if (rescued.length > 0) {
          this.#logger.warn({ count: rescued.length, ids: rescued.slice(0, 20).map((r) => r.id) }, 'rescued tasks whose lease expired');
          this.#onRescued(rescued.map((r) => r.id));
        }
      } catch (err) {
        this.#onError(err as Error);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }
}
