// Queues routed to two real Postgres servers: the run's test server holds the
// courier's own (default) cluster, a second embedded server is cluster "eu".
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { createHttpHandler } from '../../src/http/index.js';
import { ConflictError, type Courier, createCourier, defineTask, ValidationError } from '../../src/index.js';
import { databaseUrl, freshSchema, testPool, waitFor } from '../helpers/db.js';
import { BASE, call, TOKEN } from '../http/helpers.js';

const EU_FIRST_ID = 2n ** 56n; // cluster number 1: ids 2^56 … 2^57 - 1

let eu: EmbeddedServer;
let poolHome: pg.Pool;
let poolEu: pg.Pool;
let courier: Courier;
const schema = freshSchema('route');

const report = defineTask({ name: 'report', queue: 'eu.reports', payload: z.object({ n: z.number() }), handler: async (p) => ({ doubled: p.n * 2 }) });

function routed(extra: Partial<Parameters<typeof createCourier>[0]> = {}): Courier {
  const c = createCourier({
    connectionString: databaseUrl(),
    schema,
    clusters: { eu: { number: 1, connectionString: eu.connectionString, queues: ['eu.*', 'invoices'] } },
    ...extra,
  });
  c.registerTask('work', async (p: { n: number }) => ({ n: p.n }));
  c.registerTask(report);
  return c;
}

/** Where a task row is: on the default server, on eu, or on neither. */
async function home(id: string): Promise<'default' | 'eu' | null> {
  const onHome = await poolHome.query(`SELECT 1 FROM "${schema}".tasks WHERE id = $1`, [id]);
  const onEu = await poolEu.query(`SELECT 1 FROM "${schema}".tasks WHERE id = $1`, [id]);
  if (onHome.rowCount && onEu.rowCount) throw new Error(`task ${id} on both clusters`);
  return onHome.rowCount ? 'default' : onEu.rowCount ? 'eu' : null;
}

beforeAll(async () => {
  eu = await startEmbeddedPostgres();
  poolHome = testPool();
  poolEu = new pg.Pool({ connectionString: eu.connectionString, max: 2 });
  poolEu.on('error', () => {});
  courier = routed();
}, 120_000);

afterAll(async () => {
  await courier?.close({ grace: 0 });
  await poolHome?.end();
  await poolEu?.end();
  await eu?.destroy();
});

describe('the clusters option is validated', () => {
  const url = () => eu.connectionString;
  const cases: [string, unknown, string, string][] = [
    ['an unknown field', { eu: { number: 1, queues: ['a'], connectionString: 'postgres://x@h/db', port: 5 } }, 'clusters.eu.port', 'is not a known option'],
    ['a missing connection', { eu: { number: 1, queues: ['a'] } }, 'clusters.eu.connectionString', 'is required'],
    ['a number out of range', { eu: { number: 128, queues: ['a'], connectionString: 'postgres://h/db' } }, 'clusters.eu.number', 'must be an integer from 1 to 127'],
    ['a number used twice', { eu: { number: 1, queues: ['a'], connectionString: 'postgres://h/db' }, us: { number: 1, queues: ['b'], connectionString: 'postgres://h/db' } }, 'clusters.us.number', 'must be unique'],
    ['a queue routed twice', { eu: { number: 1, queues: ['a', 'b'], connectionString: 'postgres://h/db' }, us: { number: 2, queues: ['b'], connectionString: 'postgres://h/db' } }, 'clusters.us.queues.0', 'already routed to cluster "eu"'],
    ['the reserved name', { default: { number: 1, queues: ['a'], connectionString: 'postgres://h/db' } }, 'clusters.default', 'must not be named "default"'],
    ['a bad cluster name', { 'E U': { number: 1, queues: ['a'], connectionString: 'postgres://h/db' } }, 'clusters.E U', 'must be a cluster name'],
    ['no queues', { eu: { number: 1, queues: [], connectionString: 'postgres://h/db' } }, 'clusters.eu.queues', 'must name at least one queue'],
    ['a bad queue pattern', { eu: { number: 1, queues: ['a b*'], connectionString: 'postgres://h/db' } }, 'clusters.eu.queues.0', 'must be a queue name or a prefix ending in *'],
    ['not an object', 'postgres://h/db', 'clusters', 'must be an object'],
  ];
  for (const [what, clusters, field, expected] of cases) {
    it(`refuses ${what}, naming ${field}`, () => {
      let err: unknown;
      try {
        createCourier({ connectionString: url(), schema, clusters: clusters as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
      expect((err as Error).message).toContain(expected);
    });
  }

  it('never repeats a password from a bad connection string', () => {
    const bad = 'mysql://admin:s3cret-pw@db.example/app';
    expect(() => createCourier({ connectionString: url(), schema, clusters: { eu: { number: 1, queues: ['a'], connectionString: bad } } })).toThrow(
      expect.objectContaining({ field: 'clusters.eu.connectionString', message: expect.not.stringContaining('s3cret') }),
    );
  });
});

describe('a routed courier', () => {
  it('migrates every cluster and reserves each one its id range', async () => {
    await courier.migrate();
    const seq = `SELECT seqmin::text AS min, seqmax::text AS max FROM pg_sequence WHERE seqrelid = '"${schema}".tasks_id_seq'::regclass`;
    expect((await poolHome.query(seq)).rows[0]).toEqual({ min: '1', max: String(EU_FIRST_ID - 1n) });
    expect((await poolEu.query(seq)).rows[0]).toEqual({ min: String(EU_FIRST_ID), max: String(2n * EU_FIRST_ID - 1n) });
    expect(await courier.migrate()).toEqual([]); // idempotent
    // The reserved range is no schema drift, and each cluster is checked under its name.
    const checks = await courier.doctor();
    expect(checks.filter((c) => c.level === 'fail')).toEqual([]);
    expect(checks.some((c) => c.name.startsWith('eu: '))).toBe(true);
  });

  it('enqueues on the queue’s cluster: exact name, prefix, the definition’s queue, else default', async () => {
    const onDefault = await courier.enqueueTask('work', { n: 1 });
    const byPrefix = await courier.enqueueTask('work', { n: 2 }, { queue: 'eu.email' });
    const exact = await courier.enqueueTask('work', { n: 3 }, { queue: 'invoices' });
    const byDefinition = await courier.enqueueTask(report, { n: 4 });
    const notPrefix = await courier.enqueueTask('work', { n: 5 }, { queue: 'invoices.late' });
    expect(await Promise.all([onDefault, byPrefix, exact, byDefinition, notPrefix].map(home))).toEqual(['default', 'eu', 'eu', 'eu', 'default']);
    expect(BigInt(byPrefix)).toBeGreaterThanOrEqual(EU_FIRST_ID);
    expect(BigInt(onDefault)).toBeLessThan(EU_FIRST_ID);
  });

  it('splits enqueueMany by cluster and returns the ids in the items’ order', async () => {
    const ids = await courier.enqueueMany([
      { name: 'work', payload: { n: 10 }, options: { queue: 'eu.batch' } },
      { name: 'work', payload: { n: 11 } },
      { name: report, payload: { n: 12 } },
      { name: 'work', payload: { n: 13 }, options: { queue: 'plain' } },
    ]);
    expect(await Promise.all(ids.map(home))).toEqual(['eu', 'default', 'eu', 'default']);
    const payloads = await Promise.all(ids.map(async (id) => (await courier.getTask(id))?.payload));
    expect(payloads).toEqual([{ n: 10 }, { n: 11 }, { n: 12 }, { n: 13 }]);
  });

  it('finds, cancels, retries and promotes a task by id on its cluster', async () => {
    const id = await courier.enqueueTask('work', { n: 20 }, { queue: 'eu.late', delay: 3600 });
    expect(await home(id)).toBe('eu');
    expect((await courier.getTask(id))?.queue).toBe('eu.late');
    await courier.promote(id);
    expect(((await courier.getTask(id))?.runAt.getTime() ?? Infinity) <= Date.now() + 1000).toBe(true);
    expect(await courier.cancel(id)).toBe(true);
    expect((await courier.getTask(id))?.status).toBe('cancelled');
    expect(await courier.retry(id)).toBe(true);
    expect((await courier.getTask(id))?.status).toBe('queued');
    expect(await courier.getTask(String(EU_FIRST_ID + 999_999n))).toBeNull();
    await expect(courier.getTask(id, report)).rejects.toMatchObject({ field: 'id', message: expect.stringContaining('names a "work" task, not "report"') });
  });

  it('merges task lists and counts across clusters, and pages through them by cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await courier.listTasks({ limit: 3, cursor });
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const onHome = (await poolHome.query<{ id: string }>(`SELECT id::text FROM "${schema}".tasks`)).rows.map((r) => r.id);
    const onEu = (await poolEu.query<{ id: string }>(`SELECT id::text FROM "${schema}".tasks`)).rows.map((r) => r.id);
    expect(onHome.length).toBeGreaterThan(0);
    expect(onEu.length).toBeGreaterThan(0);
    expect(seen).toEqual([...onHome, ...onEu].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1)));
    const byQueue = await courier.listTasks({ queue: 'eu.email' });
    expect(byQueue.tasks.map((t) => t.queue)).toEqual(['eu.email']);
    const status = await courier.queueStatus();
    expect(status.total.total).toBe(onHome.length + onEu.length);
    expect(status.queues['eu.reports']?.total).toBe(2);
    expect(status.queues.default?.total).toBe(2);
  });

  it('configures a queue on its own cluster and lists the settings of every cluster', async () => {
    await courier.configureQueue('eu.reports', { concurrency: 2 });
    await courier.pauseQueue('plain');
    expect((await poolEu.query(`SELECT name FROM "${schema}".queues`)).rows.map((r) => r.name)).toEqual(['eu.reports']);
    expect((await poolHome.query(`SELECT name FROM "${schema}".queues`)).rows.map((r) => r.name)).toEqual(['plain']);
    expect((await courier.listQueues()).map((q) => [q.name, q.paused])).toEqual([
      ['eu.reports', false],
      ['plain', true],
    ]);
    await courier.resumeQueue('plain');
  });

  it('refuses parents on another cluster and a transaction of another cluster, writing nothing', async () => {
    const parent = await courier.enqueueTask('work', { n: 30 });
    await expect(courier.enqueueTask('work', { n: 31 }, { queue: 'eu.child', dependsOn: [parent] })).rejects.toMatchObject({ field: 'dependsOn.0', message: expect.stringContaining('no dependency spans clusters') });
    const client = await poolHome.connect();
    try {
      await client.query('BEGIN');
      await expect(courier.enqueueTask('work', { n: 32 }, { queue: 'eu.tx', tx: client })).rejects.toMatchObject({ field: 'tx', message: expect.stringContaining('cluster "eu"') });
      await expect(courier.enqueueMany([{ name: 'work', payload: { n: 33 } }, { name: report, payload: { n: 34 } }], { tx: client })).rejects.toMatchObject({ field: 'tx' });
      const id = await courier.enqueueTask('work', { n: 35 }, { tx: client });
      await client.query('COMMIT');
      expect(await home(id)).toBe('default');
    } finally {
      client.release();
    }
    const euClient = await poolEu.connect();
    try {
      await euClient.query('BEGIN');
      const id = await courier.enqueueTask('work', { n: 36 }, { queue: 'eu.tx', tx: euClient });
      await euClient.query('ROLLBACK');
      expect(await home(id)).toBeNull();
    } finally {
      euClient.release();
    }
    expect((await poolEu.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE queue = 'eu.child' OR payload->>'n' IN ('32', '33', '34')`)).rows[0]?.n).toBe(0);
    expect((await poolHome.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE payload->>'n' IN ('32', '33', '34')`)).rows[0]?.n).toBe(0);
  });

  it('refuses workflow steps and batch members on a routed queue, and writes graphs of default queues', async () => {
    expect(() => courier.workflow('wf').step('a', 'work', { n: 1 }).step('b', report, { n: 2 }, { dependsOn: ['a'] })).toThrow(
      expect.objectContaining({ field: 'steps.b.options.queue', message: expect.stringContaining('"eu.reports" is routed to cluster "eu"') }),
    );
    await expect(courier.batch([{ name: 'work', payload: { n: 3 }, options: { queue: 'eu.batch' } }])).rejects.toMatchObject({ field: 'items.0.options.queue' });
    const { id } = await courier.workflow('wf').step('a', 'work', { n: 4 }).step('b', 'work', { n: 5 }, { dependsOn: ['a'] }).enqueue();
    expect((await courier.getWorkflow(id))?.steps).toHaveLength(2);
    expect((await poolEu.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE payload->>'n' IN ('1', '2', '3') AND name = 'report'`)).rows[0]?.n).toBe(0);
  });

  it('runs the tasks of both clusters in one worker, and waitForTask follows each id', async () => {
    const succeeded: string[] = [];
    courier.events.on('task:succeeded', (e) => void succeeded.push(e.id));
    await courier.start({ concurrency: 4, pollInterval: 3600 });
    const here = await courier.enqueueTask('work', { n: 40 });
    const there = await courier.enqueueTask(report, { n: 21 });
    const [a, b] = await Promise.all([courier.waitForTask(here, { timeout: 20 }), courier.waitForTask(there, { timeout: 20 })]);
    expect([a.status, a.result]).toEqual(['succeeded', { n: 40 }]);
    expect([b.status, b.result]).toEqual(['succeeded', { doubled: 42 }]);
    expect(courier.health()).toMatchObject({ ok: true, running: true });
    // The eu cluster's processor reports on the courier's events (after its settle statement returns, which may be after the waiter's NOTIFY).
    await waitFor(() => succeeded.includes(here) && succeeded.includes(there), 10_000, 'task:succeeded of both tasks');
    // Every task queued before the start ran too, wherever it was.
    await waitFor(async () => (await courier.queueStatus()).total.queued === 0, 20_000, 'both clusters to drain');
    expect((await poolEu.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE status = 'succeeded'`)).rows[0]?.n).toBeGreaterThan(3);
    await courier.stop({ grace: 5 });
    expect(courier.health().running).toBe(false);
  });

  it('serves task lists, counts, detail and bulk actions of every cluster over HTTP', async () => {
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    const get = async (path: string) => {
      const res = await call(api, 'GET', `${BASE}${path}`);
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, any>;
    };
    // Two live tasks (due in an hour), one per cluster, beside the finished ones.
    const liveEu = await courier.enqueueTask('work', { n: 1 }, { queue: 'eu.reports', runAt: new Date(Date.now() + 3_600_000) });
    const liveHome = await courier.enqueueTask('work', { n: 2 }, { queue: 'plain', runAt: new Date(Date.now() + 3_600_000) });
    const onHome = (await poolHome.query<{ id: string }>(`SELECT id::text FROM "${schema}".tasks`)).rows.map((r) => r.id);
    const onEu = (await poolEu.query<{ id: string }>(`SELECT id::text FROM "${schema}".tasks`)).rows.map((r) => r.id);
    const newestFirst = [...onHome, ...onEu].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1));
    // The priority sort is the claim order: it lists live tasks only.
    const live = `SELECT id::text FROM "${schema}".tasks WHERE status IN ('waiting', 'queued', 'running')`;
    const liveIds = [...(await poolHome.query<{ id: string }>(live)).rows, ...(await poolEu.query<{ id: string }>(live)).rows].map((r) => r.id);
    expect(liveIds.length).toBeGreaterThanOrEqual(2);
    for (const sort of ['newest', 'oldest', 'priority']) {
      const seen: string[] = [];
      let cursor = '';
      do {
        const page = await get(`/tasks?sort=${sort}&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...page.tasks.map((t: { id: string }) => t.id));
        cursor = page.nextCursor ?? '';
      } while (cursor);
      expect(new Set(seen), sort).toEqual(new Set(sort === 'priority' ? liveIds : newestFirst));
      if (sort === 'newest') expect(seen).toEqual(newestFirst);
      if (sort === 'oldest') expect(seen).toEqual([...newestFirst].reverse());
    }
    const euId = onEu[0] as string;
    const detail = await get(`/tasks/${euId}`);
    expect([detail.id, detail.queue.startsWith('eu.') || detail.queue === 'invoices' || detail.queue === 'eu.reports']).toEqual([euId, true]);
    expect((await get('/tasks/counts')).counts.total).toBe(newestFirst.length);
    const overview = await get('/overview');
    expect(Object.keys(overview.status.queues)).toEqual(expect.arrayContaining(['default', 'eu.reports']));
    const dry = await call(api, 'POST', `${BASE}/tasks/actions`, { body: { action: 'delete', ids: [euId, onHome[0]], dryRun: true } });
    expect(((await dry.json()) as { count: number }).count).toBe(2);
    for (const id of [liveEu, liveHome]) {
      await courier.cancel(id);
      await courier.deleteTask(id);
    }
  });

  it('claims only on the clusters holding the queues a worker serves', async () => {
    // Each processor registers itself in its cluster's workers table when it starts.
    const workerRows = (pool: pg.Pool) => pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".workers`).then((r) => r.rows[0]?.n ?? 0);
    const before = { home: await workerRows(poolHome), eu: await workerRows(poolEu) };
    const homeOnly = routed();
    try {
      await homeOnly.start({ concurrency: 2, queues: ['plain'], pollInterval: 3600 });
      const id = await homeOnly.enqueueTask('work', { n: 50 }, { queue: 'plain' });
      expect((await homeOnly.waitForTask(id, { timeout: 20 })).status).toBe('succeeded');
      expect(await workerRows(poolHome)).toBe(before.home + 1);
      expect(await workerRows(poolEu)).toBe(before.eu);
    } finally {
      await homeOnly.close({ grace: 0 });
    }
    const euOnly = routed();
    try {
      await euOnly.start({ concurrency: 2, queues: ['eu.only'], pollInterval: 3600 });
      expect(await workerRows(poolEu)).toBe(before.eu + 1);
      expect(await workerRows(poolHome)).toBe(before.home + 2); // the default cluster's processor always runs (schedules live there)
      const there = await euOnly.enqueueTask('work', { n: 51 }, { queue: 'eu.only' });
      expect((await euOnly.waitForTask(there, { timeout: 20 })).status).toBe('succeeded');
      const unserved = await euOnly.enqueueTask('work', { n: 52 }, { queue: 'eu.other' });
      await euOnly.runMaintenance();
      expect((await euOnly.getTask(unserved))?.status).toBe('queued');
      expect(await euOnly.cancel(unserved)).toBe(true);
    } finally {
      await euOnly.close({ grace: 0 });
    }
  });

  it('with migrate: true, migrates every cluster before its first enqueue, wherever it goes', async () => {
    const fresh = freshSchema('route_auto');
    const auto = createCourier({ connectionString: databaseUrl(), schema: fresh, migrate: true, clusters: { eu: { number: 1, connectionString: eu.connectionString, queues: ['eu.*'] } } });
    auto.registerTask('work', async () => {});
    try {
      const id = await auto.enqueueTask('work', {}, { queue: 'eu.first' });
      expect(BigInt(id)).toBe(EU_FIRST_ID);
      expect((await poolHome.query(`SELECT to_regclass('"${fresh}".tasks') IS NOT NULL AS ok`)).rows[0]?.ok).toBe(true);
    } finally {
      await auto.close();
    }
  });

  it('refuses a cluster that holds ids outside its range, and leaves a courier without clusters as it was', async () => {
    const other = freshSchema('route_old');
    const plain = createCourier({ connectionString: eu.connectionString, schema: other });
    await plain.migrate();
    plain.registerTask('work', async () => {});
    const old = await plain.enqueueTask('work', {});
    expect(old).toBe('1');
    const seqMax = await poolEu.query(`SELECT seqmax::text AS max FROM pg_sequence WHERE seqrelid = '"${other}".tasks_id_seq'::regclass`);
    expect(seqMax.rows[0]?.max).toBe('9223372036854775807');
    await plain.close();
    const late = createCourier({ connectionString: databaseUrl(), schema: other, clusters: { eu: { number: 1, connectionString: eu.connectionString, queues: ['eu.*'] } } });
    try {
      await expect(late.migrate()).rejects.toThrow(ConflictError);
      await expect(late.migrate()).rejects.toThrow(/holds task ids 1-1, outside its range/);
    } finally {
      await late.close();
    }
  });
});
