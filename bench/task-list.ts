/**
 * The dashboard's task list on a big table: fills 1,000,000 finished tasks (plus a
 * few thousand live ones), then times first and deep pages of the keyset-paged
 * list under several filters, the per-status counts, a bulk dry run and the
 * history reads, and prints each statement's plan (which index it walks).
 * Peers in the same run: the same pages through `OFFSET` (what an offset-paged
 * list would cost), the core `listTasks()`, a text search as one statement over
 * every row (the list before migration 040), and exact counts (no budget).
 *
 *   node --import tsx bench/task-list.ts [--rows=1000000] [--runs=15]
 */
import { createCourier } from '../src/index.js';
import { readHistory, rollUpHistory } from '../src/maintenance/history.js';
import { bulkTaskAction, countTasks, listTaskPage, type TaskListQuery } from '../src/task-list.js';
import { BenchServer } from './postgres.js';

const flag = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const ROWS = Number(flag('rows', '1000000'));
const RUNS = Number(flag('runs', '15'));

const server = await BenchServer.start();
const url = await server.freshDatabase('tasklist');
const courier = createCourier({ connectionString: url, schema: 'pgcourier' });
try {
  await courier.migrate();
  const t = courier.names.tasks;
  const fill0 = performance.now();
  // 10 queues, 20 task names; 90% succeeded, 9% failed, 1% cancelled, finished over the last day; 1 in 10 keyed.
  for (let from = 0; from < ROWS; from += 200_000) {
    await courier.pool.query(
      `INSERT INTO ${t} (queue, name, payload, priority, status, attempts, last_error, key, created_at, started_at, finished_at, run_at)
       SELECT 'q' || (g % 10), 'task_' || (g % 20), jsonb_build_object('n', g), 1 + (g % 10),
              CASE WHEN g % 100 < 90 THEN 'succeeded' WHEN g % 100 < 99 THEN 'failed' ELSE 'cancelled' END,
              1, CASE WHEN g % 100 BETWEEN 90 AND 98 THEN 'upstream timeout after 30s (order ' || g || ')' END,
              CASE WHEN g % 10 = 0 THEN 'order-' || g END,
              now() - make_interval(secs => ($2 - g) * 86400.0 / $2), now() - make_interval(secs => ($2 - g) * 86400.0 / $2),
              now() - make_interval(secs => ($2 - g) * 86400.0 / $2 - 0.2), now() - make_interval(secs => ($2 - g) * 86400.0 / $2)
         FROM generate_series($1::int, least($1::int + 199999, $2::int - 1)) AS g`,
      [from, ROWS],
    );
  }
  await courier.pool.query(
    `INSERT INTO ${t} (queue, name, priority, run_at) SELECT 'q' || (g % 10), 'task_' || (g % 20), 1 + (g % 10), now() + make_interval(secs => g) FROM generate_series(1, 5000) g`,
  );
  await courier.pool.query(`VACUUM ANALYZE ${t}`);
  const { rows: size } = await courier.pool.query<{ n: string; mb: string }>(`SELECT count(*) AS n, pg_total_relation_size('${t}') / 1048576 AS mb FROM ${t}`);
  console.log(`filled ${size[0]?.n} rows (${size[0]?.mb} MB with indexes) in ${((performance.now() - fill0) / 1000).toFixed(1)} s\n`);

  /** Median ms of `RUNS` runs (after one warm-up). */
  async function time(fn: () => Promise<unknown>): Promise<number> {
    await fn();
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)] as number;
  }

  /** The statement a call runs, for EXPLAIN. */
  async function captured(fn: (db: { query: typeof courier.pool.query }) => Promise<unknown>): Promise<{ text: string; values: unknown[] }> {
    let last: { text: string; values: unknown[] } = { text: '', values: [] };
    await fn({
      query: ((text: string, values: unknown[]) => {
        last = { text, values };
        return courier.pool.query(text, values);
      }) as typeof courier.pool.query,
    });
    return last;
  }

  async function plan(q: { text: string; values: unknown[] }): Promise<string> {
    const { rows } = await courier.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${q.text}`, q.values);
    return rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n');
  }

  /** A cursor about `depth` rows into the list (what walking the pages would reach). */
  async function cursorAt(q: TaskListQuery, depth: number): Promise<string> {
    let cursor: string | undefined;
    for (let seen = 0; seen < depth; seen += 500) {
      const page = await listTaskPage(courier.pool, courier.names, { ...q, limit: 500, cursor });
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return cursor as string;
  }

  const oneStatementSearch = (text: string, extra = '') =>
    `SELECT * FROM ${t} WHERE (key ILIKE '%${text}%' OR last_error ILIKE '%${text}%')${extra} ORDER BY id DESC LIMIT 51`;
  const cases: { label: string; q: TaskListQuery; depth: number; offsetSql?: string; core?: () => Promise<unknown>; peerSql?: string }[] = [
    { label: 'all, newest', q: { limit: 50 }, depth: 500_000, offsetSql: `SELECT * FROM ${t} ORDER BY id DESC OFFSET $1 LIMIT 51`, core: () => courier.listTasks({ limit: 50 }) },
    {
      label: 'queue q3 + failed, newest',
      q: { limit: 50, queue: 'q3', status: 'failed' },
      depth: 5_000,
      offsetSql: `SELECT * FROM ${t} WHERE queue = 'q3' AND status = 'failed' ORDER BY id DESC OFFSET $1 LIMIT 51`,
      core: () => courier.listTasks({ limit: 50, queue: 'q3', status: 'failed' }),
    },
    { label: 'name task_13 + failed, oldest', q: { limit: 50, name: 'task_13', status: 'failed', sort: 'oldest' }, depth: 2_000 },
    { label: 'queued, priority (claim order)', q: { limit: 50, status: 'queued', sort: 'priority' }, depth: 2_500 },
    { label: 'all, priority (live tasks)', q: { limit: 50, sort: 'priority' }, depth: 2_500 },
    { label: 'search "order-4711" (key)', q: { limit: 50, search: 'order-4711' }, depth: 0, peerSql: oneStatementSearch('order-4711') },
    { label: 'search "4711" (id, keys, errors)', q: { limit: 50, search: '4711' }, depth: 0, peerSql: oneStatementSearch('4711', ' OR id = 4711') },
    { label: 'search "timeout" (error, 90,000 rows)', q: { limit: 50, search: 'timeout' }, depth: 5_000, peerSql: oneStatementSearch('timeout') },
    { label: 'search "timeout", oldest', q: { limit: 50, search: 'timeout', sort: 'oldest' }, depth: 5_000 },
    { label: 'search "timeout" (error), last hour', q: { limit: 50, search: 'timeout', createdAfter: new Date(Date.now() - 3_600_000) }, depth: 1_000 },
    { label: 'search "order-4" + queue q3 (no match)', q: { limit: 50, search: 'order-4', queue: 'q3' }, depth: 0, peerSql: oneStatementSearch('order-4', " AND queue = 'q3'") },
  ];

  console.log('list pages: median ms of', RUNS, 'runs (first page / deep page; peers in the same run)');
  for (const c of cases) {
    const first = await time(() => listTaskPage(courier.pool, courier.names, c.q));
    const cursor = c.depth > 0 ? await cursorAt(c.q, c.depth) : undefined;
    const deep = cursor ? await time(() => listTaskPage(courier.pool, courier.names, { ...c.q, cursor })) : null;
    let line = `  ${c.label.padEnd(40)} first ${first.toFixed(2).padStart(8)} ms`;
    if (deep !== null) line += `   at ~${c.depth.toLocaleString('en-US')} rows deep ${deep.toFixed(2).padStart(8)} ms`;
    if (c.offsetSql) {
      const sql = c.offsetSql;
      const offset = await time(() => courier.pool.query(sql, [c.depth]));
      line += `   | OFFSET ${c.depth.toLocaleString('en-US')}: ${offset.toFixed(2)} ms (keyset ${(offset / (deep ?? first)).toFixed(0)}x faster)`;
    }
    if (c.peerSql) {
      const sql = c.peerSql;
      const peer = await time(() => courier.pool.query(sql));
      line += `   | one statement over all rows ${peer.toFixed(2)} ms (${(peer / first).toFixed(0)}x)`;
    }
    if (c.core) {
      const core = c.core;
      const before = await time(core);
      line += `   | core listTasks first page ${before.toFixed(2)} ms (ratio ${(first / before).toFixed(2)})`;
    }
    console.log(line);
  }

  console.log('\ncounts, bulk dry run, history: median ms');
  const hourAgo = new Date(Date.now() - 3_600_000);
  // Peer: the one exact statement every count was before (no budget, no estimates).
  const countCases: { label: string; f: Parameters<typeof countTasks>[2]; where: string; values: unknown[] }[] = [
    { label: 'no filter', f: {}, where: 'true', values: [] },
    { label: 'queue q3', f: { queue: 'q3' }, where: 'queue = $1', values: ['q3'] },
    { label: 'name task_13, last hour', f: { name: 'task_13', createdAfter: hourAgo }, where: 'name = $1 AND created_at >= $2', values: ['task_13', hourAgo] },
    { label: 'search "order-4711"', f: { search: 'order-4711' }, where: '(key ILIKE $1 OR last_error ILIKE $1)', values: ['%order-4711%'] },
    { label: 'search "timeout"', f: { search: 'timeout' }, where: '(key ILIKE $1 OR last_error ILIKE $1)', values: ['%timeout%'] },
  ];
  for (const c of countCases) {
    const exactSql = `SELECT status, count(*) AS n FROM ${t} WHERE ${c.where} GROUP BY status`;
    const got = await countTasks(courier.pool, courier.names, c.f);
    const { rows: exact } = await courier.pool.query<{ n: string }>(exactSql, c.values);
    const exactTotal = exact.reduce((sum, r) => sum + Number(r.n), 0);
    const ms = await time(() => countTasks(courier.pool, courier.names, c.f));
    const exactMs = await time(() => courier.pool.query(exactSql, c.values));
    const off = exactTotal ? (Math.abs(got.counts.total - exactTotal) / exactTotal) * 100 : 0;
    console.log(
      `  counts, ${c.label.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms ${got.approximate ? `approximate (total ${got.counts.total}, exact ${exactTotal}: ${off.toFixed(1)}% off)` : `exact (total ${got.counts.total})`}   | one exact statement ${exactMs.toFixed(1)} ms (${(exactMs / ms).toFixed(1)}x)`,
    );
  }
  const queueStatus = await time(() => courier.queueStatus());
  console.log(`  peer: queueStatus() (the overview's counts) ${queueStatus.toFixed(1)} ms`);
  const dry = await time(() => bulkTaskAction(courier.pool, courier.names, 'retry', { filter: { queue: 'q3', status: 'failed' } }, { dryRun: true }));
  console.log(`  bulk retry dry run (queue q3, failed: ${(await bulkTaskAction(courier.pool, courier.names, 'retry', { filter: { queue: 'q3', status: 'failed' } }, { dryRun: true })).count} rows) ${dry.toFixed(1)} ms`);
  const firstReadAll = await time(() => readHistory(courier.pool, courier.names, 60));
  const r0 = performance.now();
  await rollUpHistory(courier.pool, courier.names);
  const backfill = performance.now() - r0;
  const rollup = await time(() => rollUpHistory(courier.pool, courier.names));
  const h60 = await time(() => readHistory(courier.pool, courier.names, 60));
  const h1440 = await time(() => readHistory(courier.pool, courier.names, 1440));
  const { rows: hist } = await courier.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${courier.names.table('task_history')}`);
  console.log(`  history: before any rollup (live count over a day of rows) ${firstReadAll.toFixed(1)} ms; first rollup of 24 h ${backfill.toFixed(0)} ms; a later rollup ${rollup.toFixed(2)} ms; read 60 min ${h60.toFixed(2)} ms, 1440 min ${h1440.toFixed(2)} ms; rollup table ${hist[0]?.n} rows`);

  console.log('\nplans (EXPLAIN ANALYZE) of the first pages (a deep page adds only its cursor to the same scan)');
  for (const c of cases) {
    console.log(`  ${c.label}`);
    console.log(await plan(await captured((db) => listTaskPage(db, courier.names, c.q))));
  }
  console.log('  history read, 60 min');
  console.log(await plan(await captured((db) => readHistory(db, courier.names, 60))));
} finally {
  await courier.close();
  await server.drop(url).catch(() => {});
  await server.stop();
}
