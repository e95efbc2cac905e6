// Long soak (opt-in: `npm run soak`): 1,000,000 tasks through 4 worker processes with
// the built-in cleanup running alongside. Checks that nothing is lost or doubled, that
// throughput does not decay (last 10% >= 80% of the first 10%), and that the task
// table does not bloat: after cleanup + VACUUM its heap returns to the size it had after
// the first 10%, and its indexes (which VACUUM never shrinks) stop growing by mid-run.
// docs/reliability.md has the figures of the latest run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultServer, Fleet, newScenario, report, startFaultServer, until } from './harness.js';

const TOTAL = Number(process.env.SOAK_TASKS ?? 1_000_000);
const WORKERS = 4;
// Live rows kept queued; at most half the first 10%, so the reference size (taken after
// the first 10%) has already seen the peak backlog.
const BACKLOG = Math.min(20_000, Math.floor(TOTAL / 20));
const BATCH = 5000;
const CLEANUP_EVERY_MS = 10_000;

let server: FaultServer;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await fleet?.destroy();
  await server?.close();
});

describe('soak', () => {
  it(`${TOTAL} tasks through ${WORKERS} processes: none lost or doubled, no throughput decay, no table bloat`, async () => {
    const sc = await newScenario(server, 'soak');
    const s = `"${sc.schema}"`;
    const log = (...args: unknown[]) => console.log(new Date().toISOString(), ...args);
    await server.pool.query(`CREATE TABLE ${s}.soak_ids (id bigint PRIMARY KEY)`);
    await server.pool.query(`ALTER TABLE ${s}.audit SET (autovacuum_enabled = off)`); // append-only
    const size = async () => {
      const { rows } = await server.pool.query<{ heap: string; indexes: string; total: string }>(
        `SELECT pg_table_size($1::regclass) AS heap, pg_indexes_size($1::regclass) AS indexes, pg_total_relation_size($1::regclass) AS total`,
        [`${s}.tasks`],
      );
      const { rows: idx } = await server.pool.query<{ name: string; bytes: string }>(
        `SELECT c.relname AS name, pg_relation_size(i.indexrelid) AS bytes
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY c.relname`,
        [`${s}.tasks`],
      );
      return {
        heap: Number(rows[0]?.heap),
        indexes: Number(rows[0]?.indexes),
        total: Number(rows[0]?.total),
        byIndex: Object.fromEntries(idx.map((r) => [r.name, Number(r.bytes)])),
      };
    };
    const audited = async () => Number((await server.pool.query(`SELECT count(*) AS n FROM ${s}.audit`)).rows[0].n);
    const live = async () => Number((await server.pool.query(`SELECT count(*) AS n FROM ${s}.tasks WHERE status IN ('queued', 'running')`)).rows[0].n);
    /** Deletes every finished task (the built-in cleanup, 1 ms retention), then VACUUMs. */
    const cleanAndVacuum = async () => {
      await sc.courier.cleanup({ olderThan: 0.001 });
      await server.pool.query(`VACUUM (ANALYZE) ${s}.tasks`);
    };
    const enqueue = async (n: number) => {
      const ids = await sc.courier.enqueueMany(Array.from({ length: n }, () => ({ name: 'audited', payload: {} })));
      await server.pool.query(`INSERT INTO ${s}.soak_ids SELECT unnest($1::bigint[])`, [ids]);
      return ids.length;
    };

    const emptySize = await size();
    const tenth = Math.floor(TOTAL / 10);
    let enqueued = 0;
    while (enqueued < Math.min(BACKLOG, tenth)) enqueued += await enqueue(Math.min(BATCH, tenth - enqueued));
    fleet = new Fleet({ engineUrl: server.url, auditUrl: server.url, schema: sc.schema, args: ['--concurrency', '10', '--lease', '30', '--poll-interval', '1', '--grace', '10'] });
    await fleet.start(WORKERS);
    const pids = fleet.pids();
    const started = Date.now();

    // The built-in cleanup keeps the table to the live backlog while the run goes on.
    let cleaning = true;
    let cleanups = 0;
    const cleaner = (async () => {
      while (cleaning) {
        await new Promise((r) => setTimeout(r, CLEANUP_EVERY_MS));
        await sc.courier.cleanup({ olderThan: 0.001 }).catch((e: Error) => log('cleanup failed', e.message));
        cleanups++;
      }
    })();

    // Feed the backlog; at 10% pause feeding, drain, and take the reference size.
    let reference: Awaited<ReturnType<typeof size>> | undefined;
    let midpoint: Awaited<ReturnType<typeof size>> | undefined;
    let lastLog = 0;
    while (enqueued < TOTAL) {
      if (!reference && enqueued >= tenth) {
        await until(async () => (await live()) === 0, 600_000, 'the first 10% to drain', 500);
        await cleanAndVacuum();
        reference = await size();
        log('reference size after the first 10%', reference);
      }
      if (!midpoint && enqueued >= TOTAL / 2) midpoint = await size();
      const room = reference ? TOTAL - enqueued : tenth - enqueued;
      if ((await live()) < BACKLOG) enqueued += await enqueue(Math.min(BATCH, room));
      else await new Promise((r) => setTimeout(r, 200));
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`enqueued ${enqueued}, audited ${await audited()}, table`, await size());
      }
    }
    await until(async () => (await live()) === 0, 1_800_000, 'every task to finish', 2000);
    const seconds = (Date.now() - started) / 1000;
    cleaning = false;
    await cleaner;
    const beforeCleanup = await size();
    await cleanAndVacuum();
    const final = await size();
    reference ??= final;
    midpoint ??= final;

    // Nothing lost, nothing doubled.
    const { rows: fate } = await server.pool.query<{ ids: string; lost: string; runs: string; doubled: string; strays: string; retried: string; left: string; dupes: string }>(
      `SELECT (SELECT count(*) FROM ${s}.soak_ids) AS ids,
              (SELECT count(*) FROM ${s}.soak_ids i WHERE NOT EXISTS (SELECT 1 FROM ${s}.audit a WHERE a.task_id = i.id)) AS lost,
              (SELECT count(*) FROM ${s}.audit) AS runs,
              (SELECT count(*) FROM (SELECT task_id FROM ${s}.audit GROUP BY task_id HAVING count(*) > 1) d) AS doubled,
              (SELECT count(*) FROM ${s}.audit a WHERE NOT EXISTS (SELECT 1 FROM ${s}.soak_ids i WHERE i.id = a.task_id)) AS strays,
              (SELECT count(*) FROM ${s}.audit WHERE attempt <> 1) AS retried,
              (SELECT count(*) FROM ${s}.tasks t JOIN ${s}.soak_ids i ON i.id = t.id) AS left,
              (SELECT count(*) FROM ${s}.audit_dupes) AS dupes`,
    );
    // Throughput from the audit's own timestamps: first and last 10% of the runs.
    const { rows: marks } = await server.pool.query<{ t0: Date; t10: Date; t90: Date; t100: Date }>(
      `WITH o AS (SELECT at, row_number() OVER (ORDER BY at) AS n FROM ${s}.audit)
       SELECT min(at) AS t0,
              min(at) FILTER (WHERE n = $1) AS t10,
              min(at) FILTER (WHERE n = $2) AS t90,
              max(at) AS t100 FROM o`,
      [tenth, TOTAL - tenth],
    );
    const m = marks[0] as { t0: Date; t10: Date; t90: Date; t100: Date };
    const first = tenth / ((m.t10.getTime() - m.t0.getTime()) / 1000);
    const last = tenth / ((m.t100.getTime() - m.t90.getTime()) / 1000);
    const alive = fleet.allAlive();
    const codes = await fleet.stop();
    const result = {
      tasks: TOTAL,
      workers: WORKERS,
      seconds: Math.round(seconds),
      overallPerSecond: Math.round(TOTAL / seconds),
      first10PerSecond: Math.round(first),
      last10PerSecond: Math.round(last),
      lastOverFirst: +(last / first).toFixed(3),
      cleanups,
      tableBytes: { empty: emptySize, afterFirst10Cleaned: reference, atHalf: midpoint, atEndBeforeCleanup: beforeCleanup, atEndCleaned: final },
      finalOverReference: +(final.total / reference.total).toFixed(3),
      heapFinalOverReference: +(final.heap / reference.heap).toFixed(3),
      indexesFinalOverHalf: +(final.indexes / midpoint.indexes).toFixed(3),
      fate: fate[0],
    };
    report('soak', result);

    expect(fate[0]).toEqual({ ids: String(TOTAL), lost: '0', runs: String(TOTAL), doubled: '0', strays: '0', retried: '0', left: '0', dupes: '0' });
    expect(last).toBeGreaterThanOrEqual(0.8 * first);
    // After cleanup + VACUUM the heap is back to its size after the first 10%.
    expect(final.heap).toBeLessThanOrEqual(1.2 * reference.heap);
    // Plain VACUUM never shrinks index files: they settle at the size the worst churn
    // between autovacuum rounds needed. No leak means that plateau holds over the second half.
    expect(final.indexes).toBeLessThanOrEqual(1.2 * midpoint.indexes);
    expect(alive).toBe(true);
    expect(codes).toEqual(pids.map(() => 0));
  }, 4 * 3_600_000);
});
