import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Courier } from '../../src/index.js';
import { claimTasks } from '../../src/worker/claim.js';
import { completeTasks } from '../../src/worker/settle.js';
import { testCourier } from '../helpers/db.js';

// The hot path's statements must keep their plans whatever the statistics say:
// these tests EXPLAIN (never execute) the statements the worker sends.

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplan Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

type ClaimPlan = PlanNode & { 'Total Cost': number };

/**
 * Runs the worker's claim (`claim_tasks()`, rolled back) on `client` with
 * auto_explain reporting its nested statement, and returns the plan the function
 * used for it (its cached plan on this session).
 */
async function claimPlan(client: pg.PoolClient, courier: Courier): Promise<ClaimPlan> {
  const plans: Array<{ 'Query Text': string; Plan: ClaimPlan }> = [];
  const onNotice = (msg: { message?: string }) => {
    const json = msg.message?.slice(msg.message.indexOf('{'));
    if (msg.message?.includes('plan:') && json) plans.push(JSON.parse(json));
  };
  client.on('notice', onNotice);
  try {
    await client.query(`LOAD 'auto_explain'`);
    await client.query(`SELECT set_config('auto_explain.log_min_duration', '0', false), set_config('auto_explain.log_nested_statements', 'on', false),
                               set_config('auto_explain.log_format', 'json', false), set_config('auto_explain.log_level', 'notice', false)`);
    // Inside the caller's transaction a savepoint, else a transaction of its own: rolled back either way.
    await client.query('SAVEPOINT claim').catch(() => client.query('BEGIN'));
    await claimTasks(client, courier.names, { workerId: 'w', names: ['noop'], queues: null, exclude: [], limit: 60, lease: 30, token: '00000000-0000-4000-8000-000000000000' });
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT claim').catch(() => client.query('ROLLBACK'));
    await client.query(`SELECT set_config('auto_explain.log_min_duration', '-1', false)`);
    client.off('notice', onNotice);
  }
  const inner = plans.find((p) => p['Query Text'].includes('WITH picked'));
  expect(inner, 'auto_explain reported the claim statement inside claim_tasks()').toBeDefined();
  return inner!.Plan;
}

/** The nodes under the `picked` CTE of the claim's plan on `client`. */
async function pickedNodes(client: pg.PoolClient, courier: Courier): Promise<PlanNode[]> {
  return nodes(nodes(await claimPlan(client, courier)).find((n) => n['Subplan Name'] === 'CTE picked')!);
}

/** Whether the nodes under `picked` are an ordered walk of the claim index (no sort, no sequential scan of tasks). */
function isWalk(under: PlanNode[]): boolean {
  return (
    !under.some((n) => n['Node Type'] === 'Sort' || (n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'tasks')) &&
    under.some((n) => n['Node Type'] === 'Index Scan' && n['Index Name'] === 'tasks_claim_idx')
  );
}

/** A queryable that answers every statement with its JSON plan and keeps the plans. */
function explainer(db: pg.Pool | pg.PoolClient) {
  const plans: PlanNode[] = [];
  const query = async (textOrConfig: string | pg.QueryConfig, values?: unknown[]) => {
    const config = typeof textOrConfig === 'string' ? { text: textOrConfig, values } : textOrConfig;
    const { rows } = await db.query({ text: `EXPLAIN (FORMAT JSON) ${config.text}`, values: config.values ?? [] });
    plans.push((rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]!.Plan);
    return { rows: [], rowCount: 0, command: 'EXPLAIN', oid: 0, fields: [] } as unknown as pg.QueryResult;
  };
  return { plans, db: { query } as unknown as pg.Pool };
}

const open: Courier[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close({ grace: 0 })));
});

/** A courier with a `noop` task on a migrated schema of its own (closed after the test). */
async function migratedCourier(): Promise<Courier> {
  const courier = await testCourier();
  open.push(courier);
  courier.registerTask('noop', async () => undefined);
  await courier.migrate();
  return courier;
}

describe('hot-path plans', () => {
  it('the claim walks the claim index in order on a freshly filled table that has no statistics yet', async () => {
    const courier = await migratedCourier();
    const t = courier.names.tasks;
    await courier.pool.query(`INSERT INTO ${t} (name) SELECT 'noop' FROM generate_series(1, 50000)`);
    const client = await courier.pool.connect();
    try {
      const under = await pickedNodes(client, courier);
      // Without statistics Postgres 18 once hash-joined every queued row to the
      // queues table and sorted them all (2.7 s on 1,000,000 rows).
      expect(under.map((n) => n['Node Type'])).not.toContain('Sort');
      expect(under.filter((n) => n['Node Type'].includes('Join'))).toEqual([]);
      expect(under.some((n) => n['Node Type'] === 'Index Scan' && n['Index Name'] === 'tasks_claim_idx')).toBe(true);
    } finally {
      client.release(true);
    }
  });

  it('a batch completion hash-joins its batch to the rows it finds by primary key, even before the table has statistics', async () => {
    const courier = await migratedCourier();
    const t = courier.names.tasks;
    // No statistics yet (a table filling up under steady load): a fence on the row alone
    // was estimated to keep one row of the batch, and the join planned as a nested loop
    // that rescanned the whole batch for every row.
    await courier.pool.query(`INSERT INTO ${t} (name) SELECT 'noop' FROM generate_series(1, 20000)`);
    const ids = Array.from({ length: 100 }, (_, i) => String(i + 1));
    const { plans, db } = explainer(courier.pool);
    await completeTasks(db, courier.names, 'w', ids.map((id) => ({ id, token: '00000000-0000-4000-8000-000000000000', result: null })));
    const types = nodes(plans[0]!).map((n) => n['Node Type']);
    expect(types).toContain('Hash Join');
    expect(types.filter((type) => type === 'Nested Loop').length, 'only the outer loop over the single result row').toBeLessThanOrEqual(1);
  });

  it('a batch completion cannot walk tasks_running_idx: with no primary key to use it scans, never that index', async () => {
    const courier = await migratedCourier();
    const client = await courier.pool.connect();
    try {
      await client.query('BEGIN');
      // Rolled back below. Without its primary key the running index is the only
      // index on these rows: a status fence the planner could match to its predicate
      // would make the completion walk it (it holds an entry for every task claimed
      // since the last vacuum).
      await client.query(`ALTER TABLE ${courier.names.tasks} DROP CONSTRAINT tasks_pkey CASCADE`);
      const { plans, db } = explainer(client);
      await completeTasks(db, courier.names, 'w', [{ id: '1', token: '00000000-0000-4000-8000-000000000000', result: null }]);
      const indexes = nodes(plans[0]!).map((n) => n['Index Name']).filter(Boolean);
      expect(indexes).not.toContain('tasks_running_idx');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it("the claim's cached generic plan is the ordered walk, with and without statistics (made with the default settings, it sorts every row)", async () => {
    const courier = await migratedCourier();
    const t = courier.names.tasks;
    await courier.pool.query(`INSERT INTO ${t} (name) SELECT 'noop' FROM generate_series(1, 50000)`);
    await courier.pool.query(`ANALYZE ${t}`);
    const client = await courier.pool.connect();
    try {
      await client.query('BEGIN');
      // Rolled back below: the function without its planner settings (a fresh session's plan cache).
      await client.query(`ALTER FUNCTION ${courier.names.schema}.claim_tasks RESET enable_sort`);
      await client.query(`ALTER FUNCTION ${courier.names.schema}.claim_tasks RESET enable_seqscan`);
      expect(isWalk(await pickedNodes(client, courier)), 'with default settings the generic plan sorts (the trap the settings close)').toBe(false);
      await client.query('ROLLBACK');
    } finally {
      client.release(true);
    }
    const fresh = await courier.pool.connect();
    try {
      expect(isWalk(await pickedNodes(fresh, courier)), 'analysed').toBe(true);
      await courier.pool.query(`INSERT INTO ${t} (name) SELECT 'noop' FROM generate_series(1, 100000)`);
      expect(isWalk(await pickedNodes(fresh, courier)), 'after growing past its statistics').toBe(true);
      // Before Postgres 18 a disabled node adds a huge constant to the plan's cost; past
      // jit_above_cost every claim was JIT-compiled (400 ms each on a stock Postgres 15).
      const { rows } = await fresh.query<{ config: string[] | null; above: number }>(
        `SELECT proconfig AS config, current_setting('jit_above_cost')::float8 AS above FROM pg_proc WHERE oid = '${courier.names.schema}.claim_tasks'::regproc`,
      );
      const cost = (await claimPlan(fresh, courier))['Total Cost'];
      expect(rows[0]!.config?.includes('jit=off') || rows[0]!.above < 0 || cost < rows[0]!.above, `a claim costed ${cost} would be JIT-compiled`).toBe(true);
    } finally {
      fresh.release(true);
    }
  });
});
