import { parse } from '../config.js';
import { ValidationError } from '../errors.js';
import { type EnqueueItem, type EnqueueOptions, serializePayload, type TaskManager } from '../manager.js';
import type { TaskDefinition } from '../registry.js';
import { type CallbackKind, type GraphNode, parentRefs } from './graph.js';
import { insertGraph } from './insert.js';
import type { BatchSummary } from './schemas.js';
import { workflowNameSchema } from './schemas.js';

/**
 * A batch callback: a task (definition or registered name), or `{ task, payload?,
 * options? }`. When it is released its payload (an object, default `{}`) gets the
 * {@link BatchSummary} merged over it.
 */
export type BatchCallback =
  | string
  | TaskDefinition<any, string, any>
  | { task: string | TaskDefinition<any, string, any>; payload?: Record<string, unknown>; options?: Omit<EnqueueOptions, 'tx' | 'key' | 'keyMode' | 'dependsOn'> };

/** Options of `courier.batch(items, options)`. */
export interface BatchOptions {
  /** Runs once, after the last member finished, whatever the outcomes. */
  onComplete?: BatchCallback;
  /** Runs once, after the last member, only if every member succeeded (else it is cancelled as skipped). */
  onSuccess?: BatchCallback;
  /** Runs once, after the last member, only if some member failed or was cancelled (else it is cancelled as skipped). */
  onFailure?: BatchCallback;
  /** A name shown by `getWorkflow`. */
  name?: string;
  /** The caller's open transaction: the batch exists only if it commits. */
  tx?: unknown;
}

/** What `courier.batch()` returns. */
export interface EnqueuedBatch {
  /** The batch id, for `courier.getWorkflow(id)` (which reports its progress). */
  id: string;
  /** Member task ids, in input order. */
  taskIds: string[];
  /** Task ids of the callbacks given. */
  callbacks: Partial<Record<'onComplete' | 'onSuccess' | 'onFailure', string>>;
}

const KINDS = { onComplete: 'complete', onSuccess: 'success', onFailure: 'failure' } as const satisfies Record<string, CallbackKind>;

/** A sample summary: the callback's payload schema must accept its payload with one merged in. */
const SAMPLE: BatchSummary = { batchId: '1', total: 1, succeeded: 1, failed: 0, cancelled: 0, memberIds: ['1'] };

/**
 * Enqueues a batch in one transaction: the members (as `enqueueMany` items) and
 * its callbacks, each a dependent of every member that the statement finishing
 * the last member releases (exactly once, see migration 015).
 */
export async function enqueueBatch(manager: TaskManager, items: readonly EnqueueItem[], options: BatchOptions = {}): Promise<EnqueuedBatch> {
  const where = 'batch';
  if (!Array.isArray(items) || items.length === 0) throw new ValidationError(where, 'items', 'must be a non-empty array of { name, payload, options? }');
  if (items.length > 100_000) throw new ValidationError(where, 'items', 'must hold at most 100000 members');
  if (typeof options !== 'object' || options === null) throw new ValidationError(where, 'options', 'must be an object');
  for (const key of Object.keys(options)) {
    if (!['onComplete', 'onSuccess', 'onFailure', 'name', 'tx'].includes(key)) throw new ValidationError(where, key, 'is not a known option');
  }
  const name = options.name === undefined ? null : parse(workflowNameSchema, options.name, where, 'name');
  const rows = items.map((item, i) => {
    if (typeof item !== 'object' || item === null) throw new ValidationError(where, `items.${i}`, 'must be { name, payload, options? }');
    return manager.prepareRow(item.name, item.payload, item.options, where, `items.${i}.`);
  });
  const nodes: GraphNode[] = items.map((item, i) => ({ label: `items.${i}.options`, parents: parentRefs(item.options?.dependsOn ?? []) }));
  const given: Array<keyof typeof KINDS> = [];
  for (const key of ['onComplete', 'onSuccess', 'onFailure'] as const) {
    const cb = options[key];
    if (cb === undefined) continue;
    const spec = typeof cb === 'object' && cb !== null && 'task' in cb ? cb : { task: cb as string | TaskDefinition<any, string, any> };
    const payload = spec.payload ?? {};
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new ValidationError(where, `${key}.payload`, 'must be an object (the batch summary is merged into it)');
    const row = manager.prepareRow(spec.task, { ...payload, ...SAMPLE }, spec.options, where, `${key}.`);
    rows.push({ ...row, payload: serializePayload(payload, where, `${key}.payload`) });
    // onSuccess skips on the first failure; the others run after every member.
    const policy = key === 'onSuccess' ? 'skip' : 'run';
    nodes.push({ label: key, parents: items.map((_, m) => ({ local: m, policy })), callback: KINDS[key] });
    given.push(key);
  }
  const { ids, workflowId } = await manager.insertWith(options.tx, where, (pool, runner, names) =>
    insertGraph(pool, runner, names, { rows, nodes, workflow: { kind: 'batch', name }, where }),
  );
  return {
    id: workflowId as string,
    taskIds: ids.slice(0, items.length),
    callbacks: Object.fromEntries(given.map((key, i) => [key, ids[items.length + i] as string])),
  };
}
