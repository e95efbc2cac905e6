/** What every benchmark job carries: its sequence number and when it was enqueued. */
export interface BenchPayload {
  /** 0-based sequence number, unique within one measurement. */
  i: number;
  /** Epoch milliseconds (fractional) taken just before the enqueue call. */
  t: number;
  /** Padding that makes the payload ~1 KB of JSON (drain_payload1k). */
  pad?: string;
}

/** What a handler returns: nothing, or a result the peer stores with the finished job (drain_result1k). */
export type JobResult = Record<string, unknown> | undefined;

/** Called by a peer for every job it runs. */
export type JobHandler = (payload: BenchPayload) => Promise<JobResult> | JobResult;

/** A running consumer of one peer. */
export interface Consumer {
  /** Stops claiming, waits for running jobs and flushes their completions. */
  stop(): Promise<void>;
}

/** One peer opened on one database. */
export interface PeerInstance {
  enqueueOne(payload: BenchPayload): Promise<void>;
  /** Enqueues the whole array with the peer's bulk API. */
  enqueueMany(payloads: BenchPayload[]): Promise<void>;
  /** `results`: the handler returns a result to store with each finished job (drain_result1k). */
  startConsumer(options: { concurrency: number; handler: JobHandler; results?: boolean }): Promise<Consumer>;
  /** Jobs not yet finished (queued, running, or completed but not yet recorded as such). */
  outstanding(): Promise<number>;
  /** Every job row the peer stores, finished or not. */
  stored(): Promise<number>;
  /** Finished jobs stored with a non-null result (only when `keepsResults`). */
  storedResults?(): Promise<number>;
  /** Inserts `count` finished jobs in the peer's own table shape (only when `keepsHistory`). */
  preloadHistory?(count: number): Promise<void>;
  close(): Promise<void>;
}

export const PEER_NAMES = ['pgcourier', 'graphile-worker', 'pg-boss', 'bullmq-pg', 'bullmq-redis', 'raw-sql'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** A queue library (or the raw-SQL reference) as the benchmark drives it. */
export interface Peer {
  name: PeerName;
  /** How the peer is configured, for the docs and the results file. */
  settings: string;
  /** Whether finished jobs stay in its tables (history workload). */
  keepsHistory: boolean;
  /** Whether it stores what a handler returns with the finished job (drain_result1k). */
  keepsResults: boolean;
  /** The raw-SQL reference is not a peer to beat but a ceiling to compare with. */
  reference: boolean;
  /** Workloads it takes part in (all when absent). */
  workloads?: readonly string[];
  /** Opens the peer on a fresh database and creates its schema. */
  open(connectionString: string): Promise<PeerInstance>;
}
