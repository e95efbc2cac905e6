import { hostname } from 'node:os';
import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import { VERSION } from '../version.js';
import { Periodic, type Service } from './service.js';

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

/** How long a changed running count may wait before it is written (ms). */
const LIVE_COUNT_THROTTLE_MS = 1000;

/**
 * The heartbeat service: registers this process in the `workers` table at start,
 * beats every `interval` seconds, writes the running count soon after it changes
 * (throttled), and marks the row stopped at a clean stop.
 */
export class Heartbeat implements Service {
  readonly #db: Queryable;
  readonly #table: string;
  readonly #id: string;
  readonly #opts: HeartbeatOptions;
  readonly #periodic: Periodic;
  #lastBeatAt = 0;
  #written = -1;
  #liveTimer: NodeJS.Timeout | undefined;

  constructor(opts: HeartbeatOptions) {
    this.#db = opts.db;
    this.#table = opts.names.workers;
    this.#id = opts.workerId;
    this.#opts = opts;
    this.#periodic = new Periodic(opts.interval, () => this.#beat(), opts.onError);
  }

  /** When the last heartbeat was written (epoch ms; 0 before the first). */
  get lastBeatAt(): number {
    return this.#lastBeatAt;
  }

  /** Registers the worker as alive, then beats on a timer. */
  async start(): Promise<void> {
    const o = this.#opts;
    await this.#db.query(
      `INSERT INTO ${this.#table} (id, host, pid, queues, concurrency, version, heartbeat_interval)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), stopped_at = NULL, queues = EXCLUDED.queues,
         concurrency = EXCLUDED.concurrency, heartbeat_interval = EXCLUDED.heartbeat_interval, running = 0`,
      [this.#id, hostname(), process.pid, o.queues, o.concurrency, VERSION, o.interval],
    );
    this.#lastBeatAt = Date.now();
    this.#written = 0;
    this.#periodic.start(false);
  }

  /** The running count changed: write it within a second (one write per second at most). */
  changed(): void {
    if (this.#liveTimer || this.#written < 0) return;
    this.#liveTimer = setTimeout(() => {
      this.#liveTimer = undefined;
      if (this.#opts.running() !== this.#written) void this.#periodic.run();
    }, LIVE_COUNT_THROTTLE_MS);
    this.#liveTimer.unref();
  }

  /** Stops beating and marks a clean stop. */
  async stop(): Promise<void> {
    clearTimeout(this.#liveTimer);
    await this.#periodic.stop();
    this.#written = -1;
    await this.#db.query(`UPDATE ${this.#table} SET stopped_at = now(), running = 0 WHERE id = $1`, [this.#id]);
  }

  async #beat(): Promise<void> {
    const running = this.#opts.running();
    await this.#db.query(`UPDATE ${this.#table} SET last_heartbeat = now(), running = $2 WHERE id = $1`, [this.#id, running]);
    this.#lastBeatAt = Date.now();
    this.#written = running;
  }
}

/** Options of the {@link Heartbeat} service. */
export interface HeartbeatOptions {
  db: Queryable;
  names: SqlNames;
  workerId: string;
  queues: string[] | null;
  concurrency: number;
  /** Seconds between heartbeats. */
  interval: number;
  /** Handlers running now. */
  running(): number;
  onError(err: Error): void;
}

/**
 * Lists workers: live ones and those that stopped or died within `recent`
 * seconds (default an hour). A worker is dead once three heartbeats are missed.
 */
export async function listWorkers(db: Queryable, names: SqlNames, recent = 3600): Promise<WorkerInfo[]> {
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
       FROM ${names.workers}
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
