import type { SqlNames } from '../db/names.js';
import { type PgQueryable, runPlanned, runPrepared } from '../db/pool.js';
import { BATCH_FENCE_COLUMNS, batchFenceSql } from '../db/task-sql.js';
import type { Attempt } from './attempt.js';
import type { Fence } from './settle.js';

/**
 * Extends the leases this worker holds by `lease` seconds. Returns the ids whose
 * lease still matched; the others were rescued, cancelled or finished elsewhere.
 */
export async function renewLeases(db: PgQueryable, names: SqlNames, fences: Fence[], lease: number): Promise<Set<string>> {
  const { rows } = await runPlanned<{ id: string }>(
    db,
    `UPDATE ${names.tasks} AS t
        SET locked_until = now() + make_interval(secs => $3)
       FROM unnest(${BATCH_FENCE_COLUMNS}) AS v(id, token, running)
      WHERE ${batchFenceSql('t', 'v')}
     RETURNING t.id`,
    [fences.map((f) => f.id), fences.map((f) => f.token), lease],
  );
  return new Set(rows.map((r) => String(r.id)));
}

/** Records a running attempt's progress; `false` when the lease no longer matches. */
export async function recordProgress(db: PgQueryable, names: SqlNames, fence: Fence, progress: { current: number; total: number | null }): Promise<boolean> {
  const res = await runPrepared(
    db,
    `UPDATE ${names.tasks} SET progress = $3::jsonb, updated_at = now()
      WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
    [fence.id, fence.token, JSON.stringify(progress)],
  );
  return (res.rowCount ?? 0) > 0;
}

/** What a {@link LeaseKeeper} needs. */
export interface LeaseKeeperDeps {
  pool: PgQueryable;
  names: SqlNames;
  /** Lease length in seconds; renewed every third of it. */
  lease: number;
  /** Attempts whose leases this process holds. */
  held(): Attempt[];
  /** An attempt's lease was gone at renewal (cancelled, rescued or finished elsewhere). */
  onLost(attempt: Attempt): void;
  onError(err: Error): void;
}

/** Renews the leases of every attempt this process holds, every third of the lease. */
export class LeaseKeeper {
  readonly #deps: LeaseKeeperDeps;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: LeaseKeeperDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.renew(), (this.#deps.lease * 1000) / 3);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Renews now; reports the attempts whose lease was gone. Never throws. */
  async renew(): Promise<void> {
    const held = this.#deps.held();
    if (held.length === 0) return;
    try {
      const alive = await renewLeases(
        this.#deps.pool,
        this.#deps.names,
        held.map((a) => a.fence),
        this.#deps.lease,
      );
      for (const attempt of held) if (!alive.has(attempt.task.id)) this.#deps.onLost(attempt);
    } catch (err) {
      this.#deps.onError(err as Error);
    }
  }
}
