/**
 * Pure decisions about a graph of tasks enqueued together: the order to insert
 * them in (refusing cycles) and the state each starts in, given the states of
 * parents that already exist. The trigger of migration 015 makes the same
 * decisions when a parent finishes later.
 */
import type { TaskStatus } from '../db/types.js';
import { ValidationError } from '../errors.js';

/**
 * What a dependent does when this parent fails or is cancelled: `'fail'` (the
 * default) fails it, `'skip'` cancels it, `'run'` runs it anyway once its other
 * parents are done. A cancelled parent cancels its dependents unless the edge is
 * `'run'`.
 */
export type EdgePolicy = 'fail' | 'run' | 'skip';

/** A batch callback: after every member (`complete`), only if all succeeded (`success`), only if some did not (`failure`). */
export type CallbackKind = 'complete' | 'success' | 'failure';

/** One parent edge of a node: a node of the same graph (`local`, its index) or an existing task (`id`). */
export type ParentRef = { local: number; policy: EdgePolicy } | { id: string; policy: EdgePolicy };

/** A node of a graph to insert. */
export interface GraphNode {
  /** How the node is named in errors (a step name, or `items.3`). */
  label: string;
  parents: ParentRef[];
  callback?: CallbackKind | undefined;
}

/** The state a node is inserted in. */
export interface InitialState {
  status: Extract<TaskStatus, 'waiting' | 'queued' | 'failed' | 'cancelled'>;
  /** Parents not finished yet. */
  pending: number;
  /** Parents that failed or were cancelled on a `'run'` edge. */
  failed: number;
  /** Why a node starts failed or cancelled, else null. */
  error: string | null;
}

/**
 * The nodes in an order where every node comes after its local parents. Throws a
 * {@link ValidationError} naming a step on a cycle (or one that names itself, or a
 * parent index out of range).
 */
export function topologicalOrder(nodes: readonly GraphNode[], where: string): number[] {
  const order: number[] = [];
  const mark = new Uint8Array(nodes.length); // 0 new, 1 on the path, 2 done
  const visit = (start: number) => {
    // Iterative depth-first search: a long chain must not overflow the JS stack.
    const stack: Array<{ node: number; next: number }> = [{ node: start, next: 0 }];
    mark[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: number; next: number };
      const parents = (nodes[top.node] as GraphNode).parents;
      if (top.next < parents.length) {
        const edge = parents[top.next++] as ParentRef;
        if (!('local' in edge)) continue;
        const p = edge.local;
        if (!Number.isInteger(p) || p < 0 || p >= nodes.length) throw new ValidationError(where, `${(nodes[top.node] as GraphNode).label}.dependsOn`, 'must name steps of this graph');
        if (mark[p] === 1) throw new ValidationError(where, `${(nodes[p] as GraphNode).label}.dependsOn`, 'must not form a cycle (this step depends on itself through its parents)');
        if (mark[p] === 0) {
          mark[p] = 1;
          stack.push({ node: p, next: 0 });
        }
      } else {
        mark[top.node] = 2;
        order.push(top.node);
        stack.pop();
      }
    }
  };
  for (let i = 0; i < nodes.length; i++) if (mark[i] === 0) visit(i);
  return order;
}

/** Whether a task in this state may still finish (a dependent must wait for it). */
export function isLive(status: TaskStatus): boolean {
  return status === 'waiting' || status === 'queued' || status === 'running';
}

/**
 * The state each node starts in, in input order: `waiting` while some parent is
 * live, else `queued`; `failed` or `cancelled` when a parent already failed or was
 * cancelled and the edge's policy says so (nodes inserted finished act as finished
 * parents of their own dependents). `external` gives the status of each existing
 * parent by id.
 */
export function initialStates(nodes: readonly GraphNode[], order: readonly number[], external: ReadonlyMap<string, TaskStatus>): InitialState[] {
  const states: InitialState[] = new Array(nodes.length);
  for (const i of order) {
    const node = nodes[i] as GraphNode;
    let pending = 0;
    let failed = 0;
    let outcome: { status: 'failed' | 'cancelled'; error: string } | null = null;
    for (const edge of node.parents) {
      const status: TaskStatus = 'local' in edge ? (states[edge.local] as InitialState).status : (external.get(edge.id) as TaskStatus);
      const name = 'local' in edge ? `step ${(nodes[edge.local] as GraphNode).label}` : `parent task ${edge.id}`;
      if (isLive(status)) pending++;
      else if (status !== 'succeeded') {
        if (status === 'failed' && edge.policy === 'fail') outcome ??= { status: 'failed', error: `${name} failed` };
        else if (edge.policy !== 'run') outcome ??= { status: 'cancelled', error: `skipped: ${name} ${status}` };
        else failed++;
      }
    }
    if (outcome) states[i] = { ...outcome, pending, failed };
    else if (pending > 0) states[i] = { status: 'waiting', pending, failed, error: null };
    else if (node.callback === 'failure' && failed === 0) states[i] = { status: 'cancelled', pending, failed, error: 'skipped: no member of the batch failed' };
    else states[i] = { status: 'queued', pending, failed, error: null };
  }
  return states;
}

/** The parent edges of `dependsOn` as given at enqueue (ids, or `{ id, onFailure }`). */
export function parentRefs(dependsOn: ReadonlyArray<string | { id: string; onFailure?: EdgePolicy | undefined }>): ParentRef[] {
  return dependsOn.map((d) => (typeof d === 'string' ? { id: d, policy: 'fail' } : { id: d.id, policy: d.onFailure ?? 'fail' }));
}
