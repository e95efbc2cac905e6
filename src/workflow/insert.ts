import type pg from 'pg';
import type { SqlNames } from '../db/names.js';
import { inTransaction, type Queryable } from '../db/pool.js';
import type { TaskStatus } from '../db/types.js';
import type { EnqueueRow } from '../enqueue-row.js';
import { ValidationError } from '../errors.js';
import { currentTracing } from '../tracing.js';
import { type GraphNode, initialStates, isLive, topologicalOrder } from './graph.js';

/** A graph to insert: rows (validated by the manager) and their edges, in the same order. */
export interface GraphInput {
  rows: EnqueueRow[];
  nodes: GraphNode[];
  /** Step names (workflows), else omitted. */
  steps?: Array<string | null>;
  /** Creates a `workflows` row of this kind and puts every task in it. */
  workflow?: { kind: 'workflow' | 'batch'; name: string | null };
  /** Where the call came from, for errors. */
  where: string;
}

/** Ids of the inserted tasks (input order) and of the workflow, if one was made. */
export interface GraphIds {
  ids: string[];
  workflowId: string | null;
}

/**
 * Inserts a graph of tasks in one transaction (the caller's `runner` when it is a
 * transaction, else one of its own on `pool`): reserves the ids, records each new
 * task as a dependent of its existing parents that are still live (locking them,
 * so none can finish unseen in between), and inserts every row in the state its
 * parents put it in. Refuses cycles and unknown parent ids before writing.
 */
export async function insertGraph(pool: pg.Pool, runner: Queryable, names: SqlNames, input: GraphInput): Promise<GraphIds> {
  const order = topologicalOrder(input.nodes, input.where);
  for (const [i, row] of input.rows.entries()) {
    const label = (input.nodes[i] as GraphNode).label;
    if (row.key !== null) throw new ValidationError(input.where, `${label}.key`, 'must not be given to a task with dependencies or in a workflow or batch');
    // Graph rows are inserted without the flow columns: refuse rather than drop them.
    if (row.flow) throw new ValidationError(input.where, label, 'must not combine group, sequence, debounce, throttle or keyWindow with dependencies, workflows or batches (not supported yet)');
  }
  if (runner !== pool) return insertIn(runner, names, input, order);
  return inTransaction(pool, (client) => insertIn(client, names, input, order));
}

async function insertIn(db: Queryable, names: SqlNames, input: GraphInput, order: number[]): Promise<GraphIds> {
  const { rows, nodes } = input;
  const ids = (
    await db.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence($1, 'id'))::text AS id FROM generate_series(1, $2)`, [`${names.schema}.tasks`, rows.length])
  ).rows.map((r) => r.id);
  const workflowId = input.workflow
    ? ((await db.query<{ id: string }>(`INSERT INTO ${names.table('workflows')} (kind, name) VALUES ($1, $2) RETURNING id::text`, [input.workflow.kind, input.workflow.name])).rows[0]
        ?.id ?? null)
    : null;

  // Existing parents: each live one learns its new dependents, under its row lock.
  const childrenOf = new Map<string, string[]>();
  for (const [i, node] of nodes.entries()) {
    for (const edge of node.parents) if ('id' in edge) childrenOf.set(edge.id, [...(childrenOf.get(edge.id) ?? []), ids[i] as string]);
  }
  const external = new Map<string, TaskStatus>();
  if (childrenOf.size > 0) {
    const parents = [...childrenOf.keys()];
    const { rows: live } = await db.query<{ id: string; status: TaskStatus }>(
      `UPDATE ${names.tasks} AS t SET dependents = coalesce(t.dependents, '{}') || v.children
         FROM (SELECT p.id, array_agg(p.child) AS children FROM unnest($1::bigint[], $2::bigint[]) AS p(id, child) GROUP BY p.id) AS v
        WHERE t.id = ANY ($3::bigint[]) AND t.id = v.id AND t.status IN ('waiting', 'queued', 'running')
        RETURNING t.id::text, t.status`,
      [[...childrenOf].flatMap(([p, c]) => c.map(() => p)), [...childrenOf.values()].flat(), parents],
    );
    for (const r of live) external.set(r.id, r.status);
    const rest = parents.filter((p) => !external.has(p));
    if (rest.length > 0) {
      const { rows: finished } = await db.query<{ id: string; status: TaskStatus }>(`SELECT id::text, status FROM ${names.tasks} WHERE id = ANY ($1::bigint[])`, [rest]);
      for (const r of finished) external.set(r.id, r.status);
      const missing = rest.find((p) => !external.has(p));
      if (missing !== undefined) {
        const i = nodes.findIndex((n) => n.parents.some((e) => 'id' in e && e.id === missing));
        throw new ValidationError(input.where, `${(nodes[i] as GraphNode).label}.dependsOn`, `must name existing tasks; no task has id ${missing}`);
      }
    }
  }

  const states = initialStates(nodes, order, external);
  // New parents that start live learn their new dependents here.
  const dependents: Array<string[] | null> = nodes.map(() => null);
  for (const [i, node] of nodes.entries()) {
    if ((states[i] as { status: string }).status !== 'waiting') continue;
    for (const edge of node.parents) {
      if ('local' in edge && isLive((states[edge.local] as { status: TaskStatus }).status)) (dependents[edge.local] ??= []).push(ids[i] as string);
    }
  }
  // Rows validated before the call was traced (builder steps) take the context of the enqueue.
  const traceparent = currentTracing()?.traceparent() ?? null;
  const col = <T>(f: (row: EnqueueRow, i: number) => T) => rows.map(f);
  await db.query(
    `INSERT INTO ${names.tasks} (id, queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay,
                                 status, depends_on, parent_policies, pending_parents, failed_parents, dependents,
                                 finished_at, last_error, workflow_id, step, batch_callback, traceparent)
     OVERRIDING SYSTEM VALUE
     SELECT id, q, n, p, pr, mr, rd, t, coalesce(ra, now() + make_interval(secs => coalesce(d, 0))), b, md,
            st, CASE WHEN dep = '' THEN NULL ELSE string_to_array(dep, ',')::bigint[] END,
            CASE WHEN pol = '' THEN NULL ELSE string_to_array(pol, ',', '') END, pend, fail,
            CASE WHEN kids = '' THEN NULL ELSE string_to_array(kids, ',')::bigint[] END,
            CASE WHEN st IN ('failed', 'cancelled') THEN now() END, err, $21::bigint, step, cb, tp
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::smallint[], $6::int[], $7::float8[], $8::float8[], $9::timestamptz[],
                   $10::float8[], $11::text[], $12::float8[], $13::text[], $14::text[], $15::text[], $16::int[], $17::int[], $18::text[], $19::text[],
                   $20::text[], $22::text[], $23::text[])
         AS v(id, q, n, p, pr, mr, rd, t, ra, d, b, md, st, dep, pol, pend, fail, kids, err, step, cb, tp)`,
    [
      ids,
      col((r) => r.queue),
      col((r) => r.name),
      col((r) => r.payload),
      col((r) => r.priority),
      col((r) => r.maxRetries),
      col((r) => r.retryDelay),
      col((r) => r.timeout),
      col((r) => r.runAt),
      col((r) => r.delay),
      col((r) => r.backoff),
      col((r) => r.maxDelay),
      states.map((s) => s.status),
      nodes.map((n) => n.parents.map((e) => ('local' in e ? ids[e.local] : e.id)).join(',')),
      // Empty text stands for the default policy ('fail'), stored as NULL.
      nodes.map((n) => (n.parents.every((e) => e.policy === 'fail') ? '' : n.parents.map((e) => (e.policy === 'fail' ? '' : e.policy)).join(','))),
      states.map((s) => s.pending),
      states.map((s) => s.failed),
      dependents.map((d) => (d ? d.join(',') : '')),
      states.map((s) => s.error),
      input.steps ?? rows.map(() => null),
      workflowId,
      nodes.map((n) => n.callback ?? null),
      col((r) => r.traceparent ?? traceparent),
    ],
  );
  // Inserted due rows are announced by the insert trigger; nothing else to wake.
  return { ids, workflowId };
}
