import { isTaskId } from '../db/task-id.js';
import { ValidationError } from '../errors.js';
import type { EnqueueOptions } from '../manager.js';
import type { TaskDefinition, TaskRegistry } from '../registry.js';
import { clusterNumberOfId } from './id-range.js';
import { DEFAULT_CLUSTER, type RoutedClusterSpec } from './options.js';

/** One cluster of the routing table and the courier that works on it. */
export interface ClusterMember<C> {
  /** Its name in `clusters`. */
  readonly name: string;
  /** Its number: ids `number × 2^56 + n`. */
  readonly number: number;
  /** The courier on this cluster. */
  readonly courier: C;
}

/**
 * Which cluster a queue or a task id lives on. `undefined` everywhere means the
 * courier's own connection (cluster 0, `default`), which holds every queue no
 * cluster names.
 */
export class QueueRouter<C> {
  /** The routed clusters (not the default one), in the order given. */
  readonly members: readonly ClusterMember<C>[];
  readonly #exact = new Map<string, ClusterMember<C>>();
  readonly #prefixes: [string, ClusterMember<C>][] = [];
  readonly #byNumber = new Map<number, ClusterMember<C>>();
  readonly #ready = new Map<number, Promise<void>>();

  constructor(specs: readonly RoutedClusterSpec[], courierOf: (spec: RoutedClusterSpec) => C) {
    this.members = specs.map((spec) => ({ name: spec.name, number: spec.options.number, courier: courierOf(spec) }));
    for (const member of this.members) {
      this.#byNumber.set(member.number, member);
      const spec = specs.find((s) => s.name === member.name) as RoutedClusterSpec;
      for (const q of spec.options.queues) {
        if (q.endsWith('*')) this.#prefixes.push([q.slice(0, -1), member]);
        else this.#exact.set(q, member);
      }
    }
    this.#prefixes.sort(([a], [b]) => b.length - a.length);
  }

  /** The cluster of `queue`: an exact name, else the longest matching prefix, else the default. */
  forQueue(queue: string): ClusterMember<C> | undefined {
    return this.#exact.get(queue) ?? this.#prefixes.find(([prefix]) => queue.startsWith(prefix))?.[1];
  }

  /** The cluster whose id range holds `id`; `undefined` for the default cluster and for what is not an id (the default courier then says why). */
  forId(id: unknown): ClusterMember<C> | undefined {
    return isTaskId(id) ? this.#byNumber.get(clusterNumberOfId(id)) : undefined;
  }

  /** Name of a cluster, `default` for `undefined`. */
  nameOf(member: ClusterMember<C> | undefined): string {
    return member?.name ?? DEFAULT_CLUSTER;
  }

  /** Whether a worker serving `queues` (null: all) must claim on `member`. */
  serves(member: ClusterMember<C>, queues: readonly string[] | null | undefined): boolean {
    return !queues || queues.some((q) => this.forQueue(q) === member);
  }

  /** Runs `check` once per cluster number (again after a failure). */
  ready(number: number, check: () => Promise<void>): Promise<void> {
    let done = this.#ready.get(number);
    if (!done) {
      done = check().catch((err) => {
        this.#ready.delete(number);
        throw err;
      });
      this.#ready.set(number, done);
    }
    return done;
  }
}

/** The queue an enqueue lands on, as the manager decides it: the option, else the task's queue, else `default`. */
export function queueOf(registry: TaskRegistry, task: unknown, options: Pick<EnqueueOptions, 'queue'> | undefined): string {
  if (typeof options?.queue === 'string') return options.queue;
  const name = typeof task === 'string' ? task : (task as TaskDefinition | undefined)?.name;
  return (typeof name === 'string' ? registry.get(name)?.queue : undefined) ?? 'default';
}

/**
 * Refuses parents (`dependsOn`) on another cluster than their dependent's: a
 * dependency is a row of the same table, so a graph never spans clusters.
 */
export function checkParents<C>(router: QueueRouter<C>, target: ClusterMember<C> | undefined, dependsOn: EnqueueOptions['dependsOn'], where: string, field: string): void {
  (dependsOn ?? []).forEach((parent, i) => {
    const id = typeof parent === 'string' ? parent : parent?.id;
    if (!isTaskId(id)) return; // the manager names what is wrong with it
    if (clusterNumberOfId(id) !== (target?.number ?? 0)) {
      throw new ValidationError(where, `${field}.${i}`, `must be a task on cluster "${router.nameOf(target)}" (the dependent's queue is routed there); task ${id} is on cluster "${router.nameOf(router.forId(id))}", and no dependency spans clusters`);
    }
  });
}
