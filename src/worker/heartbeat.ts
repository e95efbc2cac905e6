import { hostname } from 'node:os';
import type { Queryable } from '../db/pool.js';
import { quoteIdent } from '../db/pool.js';
import { VERSION } from '../version.js';

/** A worker process as recorded in the `workers` table. */
export interface WorkerInfo {
  /** Worker id (also written to `locked_by` of its tasks). */
  id: string;
  /** Host name. */
  host: string;
  /** Process id on that host. */
  pid: number;
  /** Queues served, or `null` for all. */
  queues: string[] | null;
  /** Handler slots. */
  concurrency: number;
  /** pgcourier version. */
  version: string;
  /** Handlers running at the last heartbeat. */
  running: number;
  /** When the processor started. */
  startedAt: Date;
  /** Last heartbeat. */
  lastHeartbeat: Date;
  /** When it stopped cleanly, if it did. */
  stoppedAt: Date | null;
  /** Seconds between heartbeats. */
  heartbeatInterval: number;
  /** `alive`, `stopped` (clean stop) or `dead` (missed three heartbeats). */
  state: 'alive' | 'stopped' | 'dead';
}

/** Writes this process's row in the `workers` table. */
export class Heartbeat {
  readonly #db: Queryable;
  readonly #table: string;
  readonly #id: string;

  constructor(db: Queryable, schema: string, workerId: string) {
    this.#db = db;
    this.#table = `${quoteIdent(schema)}.workers`;
    this.#id = workerId;
  }

  /** Registers the worker as alive. */
  async register(opts: { queues: string[] | null; concurrency: number; interval: number }): Promise<void> {
    await this.#db.query(
      `INSERT INTO ${this.#table} (id, host, pid, queues, concurrency, version, heartbeat_interval)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), stopped_at = NULL, queues = EXCLUDED.queues,
         concurrency = EXCLUDED.concurrency, heartbeat_interval = EXCLUDED.heartbeat_interval`,
      [this.#id, hostname(), process.pid, opts.queues, opts.concurrency, VERSION, opts.interval],
    );
  }

  /** Records that the worker is alive with `running` handlers. */
  async beat(running: number): Promise<void> {
    await this.#db.query(`UPDATE ${this.#table} SET last_heartbeat = now(), running = $2 WHERE id = $1`, [this.#id, running]);
  }

  /** Marks a clean stop. */
  async stopped(): Promise<void> {
    await this.#db.query(`UPDATE ${this.#table} SET stopped_at = now(), running = 0 WHERE id = $1`, [this.#id]);
  }
}

/**
 * Lists workers: live ones and those that stopped or died within `recent`
 * seconds (default an hour). A worker is dead once three heartbeats are missed.
 */
export async function listWorkers(db: Queryable, schema: string, recent = 3600): Promise<WorkerInfo[]> {
  const { rows } = await db.query<{
    id: string;
    host: string;
    pid: number;
    queues: string[] | null;
    concurrency: number;
    version: string;
    running: number;
    started_at: Date;
    last_heartbeat: Date;
    stopped_at: Date | null;
    heartbeat_interval: number;
    dead: boolean;
  }>(
    `SELECT *, last_heartbeat < now() - make_interval(secs => 3 * heartbeat_interval) AS dead
       FROM ${quoteIdent(schema)}.workers
      WHERE coalesce(stopped_at, last_heartbeat) > now() - make_interval(secs => $1)
         OR (stopped_at IS NULL AND last_heartbeat >= now() - make_interval(secs => 3 * heartbeat_interval))
      ORDER BY started_at DESC`,
    [recent],
  );
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    concurrency: r.concurrency,
    version: r.version,
    running: r.stopped_at ? 0 : r.running,
    startedAt: r.started_at,
    lastHeartbeat: r.last_heartbeat,
    stoppedAt: r.stopped_at,
    heartbeatInterval: r.heartbeat_interval,
    state: r.stopped_at ? 'stopped' : r.dead ? 'dead' : 'alive',
  }));
}
