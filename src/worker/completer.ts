import type pg from 'pg';
import type { Logger } from 'pino';
import type { SqlNames } from '../db/names.js';
import { describeError } from './executor.js';
import { type Settlement, settle } from './settle.js';

/** Most outcomes per write: a larger backlog goes in several writes, one after another. */
const MAX_BATCH = 1000;

/** Prefix of the error recorded when an outcome could not be stored. */
const UNSTORABLE = 'the outcome could not be stored';

/** A settlement waiting for its write, and who to tell whether its fence matched. */
interface Pending {
  settlement: Settlement;
  queue: string;
  done(matched: boolean): void;
}

/** What a completer needs. */
export interface CompleterDeps {
  pool: pg.Pool;
  names: SqlNames;
  logger: Logger;
  /** This process's worker id: the publisher of the events the writes announce. */
  workerId: string;
  /** Whether a queue has a cluster-wide cap (a finished task of it frees a slot other workers wait for). */
  isCapped(queue: string): boolean;
  onError(err: Error, context: string): void;
}

/**
 * Writes attempt outcomes in batches. One write is in flight at a time; outcomes
 * that arrive meanwhile wait and go together in the next, so batches grow with
 * load while a lone outcome is written at once. A write that fails for the
 * connection is retried (an unwritten success would run again); one that Postgres
 * refuses for its data is split up so one bad outcome cannot hold the others back.
 * Every write is fenced: `done(false)` means the lease was gone and nothing was written.
 * The inline path (`runOnce`, `drain`, the testing helpers) uses the same completer.
 */
export class Completer {
  readonly #deps: CompleterDeps;
  #pending: Pending[] = [];
  #flight: Promise<void> | undefined;
  #scheduled = false;
  /** During stop(): when to stop trying to write (the leases expire then anyway). */
  #giveUpAt = Number.POSITIVE_INFINITY;
  #idle: Array<() => void> = [];

  constructor(deps: CompleterDeps) {
    this.#deps = deps;
  }

  /** Queues an outcome for the next batch; `done` learns whether its fence matched. */
  add(settlement: Settlement, queue: string, done: (matched: boolean) => void): void {
    this.#pending.push({ settlement, queue, done });
    if (!this.#flight && !this.#scheduled) {
      this.#scheduled = true;
      // Outcomes that finish in the same turn of the event loop share the write.
      setImmediate(() => this.#startFlight());
    }
  }

  /** Stop retrying writes after `deadline` (epoch ms): the leases expire and rescue takes over. */
  giveUpAt(deadline: number): void {
    this.#giveUpAt = deadline;
  }

  /** Resolves once every outcome added so far is written or given up. */
  flushed(): Promise<void> {
    if (!this.#flight && !this.#scheduled && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #startFlight(): void {
    this.#scheduled = false;
    if (this.#flight) return;
    const batch = this.#pending;
    if (batch.length === 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    if (batch.length > MAX_BATCH) this.#pending = batch.splice(MAX_BATCH);
    else this.#pending = [];
    this.#flight = this.#write(batch).finally(() => {
      this.#flight = undefined;
      this.#startFlight();
    });
  }

  /** Writes a batch, retrying through connection loss. */
  async #write(batch: Pending[]): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        const matched = await settle(this.#deps.pool, this.#deps.names, this.#deps.workerId, batch.map((b) => b.settlement));
        for (const b of batch) b.done(matched.has(b.settlement.id));
        await this.#wakeCappedQueues(batch);
        return;
      } catch (err) {
        if (isDataError(err)) return this.#writeApart(batch, err as Error);
        if (Date.now() > this.#giveUpAt) {
          this.#deps.logger.error({ err: describeError(err), count: batch.length }, 'stopping without writing these outcomes: their leases expire and rescue runs them again');
          for (const b of batch) b.done(false);
          return;
        }
        this.#deps.logger.warn({ err: describeError(err), count: batch.length }, 'writing task outcomes failed; retrying');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /**
   * Postgres refused the batch's data (not the connection): write each outcome on
   * its own; the culprit is failed with an error saying why, which is always storable.
   */
  async #writeApart(batch: Pending[], err: Error): Promise<void> {
    if (batch.length > 1) {
      await Promise.all(batch.map((b) => this.#write([b])));
      return;
    }
    const only = batch[0] as Pending;
    const { id, token, kind } = only.settlement;
    if (kind === 'failed' && only.settlement.error.startsWith(UNSTORABLE)) {
      this.#deps.onError(err, 'writing an outcome');
      only.done(false);
      return;
    }
    const error = `${UNSTORABLE} (${describeError(err).slice(0, 200)})`;
    await this.#write([{ ...only, settlement: { id, token, kind: 'failed', error } }]);
  }

  /** A finished task of a capped queue frees a cluster-wide slot: tell every worker. */
  async #wakeCappedQueues(batch: Pending[]): Promise<void> {
    const queues = new Set<string>();
    for (const b of batch) if (this.#deps.isCapped(b.queue)) queues.add(b.queue);
    if (queues.size === 0) return;
    await this.#deps.pool
      .query('SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q', [this.#deps.names.channel, [...queues]])
      .catch((err: Error) => this.#deps.onError(err, 'notifying capped queues'));
  }
}

/** SQLSTATE class 22 (data exception) or 54 (program limit): retrying the same data cannot help. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('54'));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
