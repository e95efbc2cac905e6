import type pg from 'pg';
import type { WaitForTaskOptions } from '../cluster-events.js';
import type { SqlNames } from '../db/names.js';
import { transactionQueryable } from '../db/tx/index.js';
import type { DoctorCheck } from '../doctor.js';
import { ValidationError } from '../errors.js';
import type { WorkerInfo } from '../maintenance/heartbeat.js';
import type { EnqueueItem, EnqueueOptions, ListTasksOptions, QueueStatus, TaskPage } from '../manager.js';
import type { Metrics } from '../metrics.js';
import type { QueueOptions, QueueSettings } from '../queues.js';
import type { TaskDefinition, TaskRegistry } from '../registry.js';
import type { CleanupOptions } from '../scheduler/cleanup.js';
import type { TaskInfo } from '../task-info.js';
import type { ProcessorHealth } from '../worker/processor.js';
import { clusterNumberOfId, reserveIdRange } from './id-range.js';
import { mergeHealth, mergeMetrics, mergeQueueStatus, mergeTaskPages } from './merge.js';
import { checkClusters, clustersSchema, type RoutedClusterSpec } from './options.js';
import { type ClusterMember, checkParents, QueueRouter, queueOf } from './router.js';

/** What routing needs of the courier on one routed cluster (a `Courier`). */
export interface RoutedCourier {
  readonly pool: pg.Pool;
  readonly names: SqlNames;
  migrate(): Promise<number[]>;
  enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  enqueueMany(items: readonly EnqueueItem[], options?: { tx?: unknown; keyMode?: 'keep' | 'replace' }): Promise<string[]>;
  getTask(id: string, task?: TaskDefinition<any, string, any>): Promise<TaskInfo | null>;
  waitForTask(id: string, options?: WaitForTaskOptions): Promise<TaskInfo>;
  promote(id: string): Promise<void>;
  deleteTask(id: string): Promise<void>;
  cancel(id: string): Promise<boolean>;
  retry(id: string): Promise<boolean>;
  runTaskNow(id: string): Promise<boolean>;
  listTasks(options?: ListTasksOptions): Promise<TaskPage>;
  queueStatus(): Promise<QueueStatus>;
  listQueues(): Promise<QueueSettings[]>;
  configureQueue(name: string, options: QueueOptions): Promise<QueueSettings>;
  pauseQueue(name: string): Promise<QueueSettings>;
  resumeQueue(name: string): Promise<QueueSettings>;
  runOnce(options?: { limit?: number; concurrency?: number }): Promise<number>;
  runMaintenance(options?: { now?: Date; catchUp?: boolean }): Promise<{ rescued: number; scheduled: number }>;
  cleanup(options?: CleanupOptions): Promise<number>;
  metrics(): Promise<Metrics>;
  doctor(): Promise<DoctorCheck[]>;
  workers(): Promise<WorkerInfo[]>;
  ping(): Promise<boolean>;
  health(): ProcessorHealth;
  close(options?: { grace?: number }): Promise<void>;
}

/** The default cluster as routing sees it: the courier's own connection and its unrouted operations. */
export interface LocalCluster {
  readonly pool: pg.Pool;
  readonly names: SqlNames;
  readonly registry: TaskRegistry;
  /** Runs `work` after the courier's automatic migration (`migrate: true`, which migrates every cluster), translating a missing schema. */
  guarded<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * A courier's queues spread over several Postgres clusters (the `clusters`
 * option): each call goes to the cluster of its queue or task id, or to all of
 * them with the answers merged. The courier calls it from one line per method,
 * passing its own unrouted operation for the default cluster.
 */
export class ClusterRouting<C extends RoutedCourier> {
  readonly router: QueueRouter<C>;
  readonly #local: LocalCluster;

  /** Validates `clusters` (errors name `clusters.<name>.<field>`) and creates a courier per cluster with `courierOf`. */
  constructor(clusters: unknown, local: LocalCluster, courierOf: (spec: RoutedClusterSpec) => C) {
    const parsed = clustersSchema.safeParse(clusters);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = ['clusters', ...(issue?.path ?? []).map(String), ...(issue?.code === 'unrecognized_keys' ? issue.keys : [])].join('.');
      const message = issue?.code === 'unrecognized_keys' ? 'is not a known option' : (issue?.message ?? 'is invalid');
      throw new ValidationError('createCourier', field, /^(must|is) /.test(message) ? message : `is invalid: ${message}`);
    }
    this.#local = local;
    this.router = new QueueRouter(checkClusters(parsed.data), courierOf);
  }

  /** Every routed cluster's courier. */
  get couriers(): C[] {
    return this.router.members.map((m) => m.courier);
  }

  /** Migrates every cluster, then reserves each one's id range. Returns the versions applied anywhere. */
  async migrate(local: () => Promise<number[]>): Promise<number[]> {
    const applied = new Set(await local());
    await this.#reserve(undefined);
    for (const member of this.router.members) {
      for (const v of await member.courier.migrate()) applied.add(v);
      await this.#reserve(member);
    }
    return [...applied].sort((a, b) => a - b);
  }

  /** Enqueues on the cluster of the task's queue; see {@link checkTx} for `tx`. */
  async enqueueTask(task: unknown, payload: unknown, options: EnqueueOptions | undefined, local: () => Promise<string>): Promise<string> {
    const target = this.router.forQueue(queueOf(this.#local.registry, task, options));
    checkParents(this.router, target, options?.dependsOn, 'enqueueTask', 'dependsOn');
    await this.#ready(target);
    if (options?.tx !== undefined) await this.#checkTx(options.tx, target, 'enqueueTask');
    return target ? target.courier.enqueueTask(task as string, payload, options) : local();
  }

  /**
   * Enqueues each item on its queue's cluster: one statement per cluster, in the
   * order the clusters are first named, so not atomic across clusters. With `tx`
   * every item must go to the transaction's cluster.
   */
  async enqueueMany(items: readonly EnqueueItem[], options: { tx?: unknown; keyMode?: 'keep' | 'replace' } | undefined, local: (items: readonly EnqueueItem[]) => Promise<string[]>): Promise<string[]> {
    if (!Array.isArray(items)) return local(items); // the manager names what is wrong
    const groups = new Map<ClusterMember<C> | undefined, number[]>();
    items.forEach((item, i) => {
      const target = this.router.forQueue(queueOf(this.#local.registry, item?.name, item?.options));
      checkParents(this.router, target, item?.options?.dependsOn, 'enqueueMany', `items.${i}.options.dependsOn`);
      groups.set(target, [...(groups.get(target) ?? []), i]);
    });
    if (options?.tx !== undefined && groups.size > 1) {
      const names = [...groups.keys()].map((m) => `"${this.router.nameOf(m)}"`).join(', ');
      throw new ValidationError('enqueueMany', 'tx', `must be used with items of one cluster: these items go to clusters ${names}, and no transaction spans clusters`);
    }
    const ids: string[] = new Array(items.length);
    for (const [target, indexes] of groups) {
      await this.#ready(target);
      if (options?.tx !== undefined) await this.#checkTx(options.tx, target, 'enqueueMany');
      const part = indexes.map((i) => items[i] as EnqueueItem);
      const got = target ? await target.courier.enqueueMany(part, options) : await local(part);
      indexes.forEach((i, k) => {
        ids[i] = got[k] as string;
      });
    }
    return ids;
  }

  /** Refuses a workflow step or batch member whose queue is routed away from the default cluster, where graphs are written. */
  checkGraphRow(queue: string, where: string, prefix: string): void {
    const member = this.router.forQueue(queue);
    if (member) throw new ValidationError(where, `${prefix}options.queue`, `must be a queue of the default cluster: workflows and batches are written there in one transaction, and "${queue}" is routed to cluster "${member.name}"`);
  }

  /** The courier of a task id's cluster, or `undefined` for the default cluster. */
  forId(id: unknown): C | undefined {
    return this.router.forId(id)?.courier;
  }

  /** The courier of a queue's cluster, or `undefined` for the default cluster. */
  forQueue(queue: string): C | undefined {
    return this.router.forQueue(queue)?.courier;
  }

  /** One page of tasks: from the queue's cluster when filtered by queue, else merged from every cluster in id order. */
  async listTasks(options: ListTasksOptions | undefined, local: () => Promise<TaskPage>): Promise<TaskPage> {
    if (typeof options?.queue === 'string') return this.forQueue(options.queue)?.listTasks(options) ?? local();
    const [own, ...others] = await Promise.all([local(), ...this.couriers.map((c) => c.listTasks(options))]);
    return mergeTaskPages([own as TaskPage, ...others], options?.limit ?? 50);
  }

  /** Counts per queue over every cluster. */
  async queueStatus(local: () => Promise<QueueStatus>): Promise<QueueStatus> {
    return mergeQueueStatus(await Promise.all([local(), ...this.couriers.map((c) => c.queueStatus())]));
  }

  /** Settings of every configured queue, each read on the cluster it is routed to. */
  async listQueues(local: () => Promise<QueueSettings[]>): Promise<QueueSettings[]> {
    const [own, ...others] = await Promise.all([local(), ...this.couriers.map((c) => c.listQueues())]);
    const home = [undefined, ...this.router.members];
    return [own as QueueSettings[], ...others]
      .flatMap((list, i) => list.filter((q) => this.router.forQueue(q.name) === home[i]))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Gauges over every cluster. */
  async metrics(local: () => Promise<Metrics>): Promise<Metrics> {
    return mergeMetrics(await Promise.all([local(), ...this.couriers.map((c) => c.metrics())]));
  }

  /** Each cluster's checks, named after their cluster. */
  async doctor(local: () => Promise<DoctorCheck[]>): Promise<DoctorCheck[]> {
    const parts = await Promise.all([local(), ...this.couriers.map((c) => c.doctor())]);
    return parts.flatMap((checks, i) => (i === 0 ? checks : checks.map((c) => ({ ...c, name: `${this.router.members[i - 1]?.name}: ${c.name}` }))));
  }

  /** Workers of every cluster (a process working on several appears once per cluster). */
  async workers(local: () => Promise<WorkerInfo[]>): Promise<WorkerInfo[]> {
    return (await Promise.all([local(), ...this.couriers.map((c) => c.workers())])).flat();
  }

  /** Whether every cluster answers. */
  async ping(local: () => Promise<boolean>): Promise<boolean> {
    return (await Promise.all([local(), ...this.couriers.map((c) => c.ping())])).every(Boolean);
  }

  /** Health of this process's processors on every cluster, as one. */
  health(local: ProcessorHealth, started: readonly C[]): ProcessorHealth {
    return mergeHealth([local, ...started.map((c) => c.health())]);
  }

  /** Sums a count over the clusters, one after the other. */
  async sum(local: () => Promise<number>, each: (c: C) => Promise<number>): Promise<number> {
    let n = await local();
    for (const c of this.couriers) n += await each(c);
    return n;
  }

  /** Rescue and cron on every cluster (cron schedules live on the default one). */
  async runMaintenance(local: () => Promise<{ rescued: number; scheduled: number }>, options: { now?: Date; catchUp?: boolean }): Promise<{ rescued: number; scheduled: number }> {
    const out = await local();
    for (const c of this.couriers) {
      const got = await c.runMaintenance(options);
      out.rescued += got.rescued;
      out.scheduled += got.scheduled;
    }
    return out;
  }

  #ready(member: ClusterMember<C> | undefined): Promise<void> {
    return this.router.ready(member?.number ?? 0, () => this.#local.guarded(() => this.#reserve(member)));
  }

  #reserve(member: ClusterMember<C> | undefined): Promise<void> {
    const { pool, names } = member ? member.courier : this.#local;
    return reserveIdRange(pool, names, this.router.nameOf(member), member?.number ?? 0);
  }

  /** Refuses a caller's transaction on another cluster than the target's, before anything is written in it. */
  async #checkTx(tx: unknown, target: ClusterMember<C> | undefined, where: string): Promise<void> {
    const names = target ? target.courier.names : this.#local.names;
    const { rows } = await transactionQueryable(tx, where).query<{ max: string }>(
      `SELECT s.seqmax::text AS max FROM pg_sequence s WHERE s.seqrelid = to_regclass('${names.table('tasks_id_seq')}')`,
    );
    const number = rows[0] ? clusterNumberOfId(rows[0].max) : -1;
    if (number !== (target?.number ?? 0)) {
      throw new ValidationError(where, 'tx', `must be a transaction on cluster "${this.router.nameOf(target)}", where the task's queue is routed; this transaction is on another database, and no transaction spans clusters`);
    }
  }
}
