/**
 * Flow control in figures, on one embedded Postgres, each case in a fresh database:
 *
 * 1. The cost of groups on a noop drain: `jobs` tasks drained by one worker with
 *    `concurrency` slots, plain (no group) against the same tasks spread over
 *    `groups` groups (fair claiming), and over the groups with a per-group cap
 *    (`groupConcurrency`, high enough never to bind). Rounds alternate the cases
 *    so machine drift hits them alike; the median rate of each is printed with
 *    its ratio to plain.
 * 2. Fairness: one tenant enqueues `big` tasks, then `tenants` other tenants
 *    enqueue `small` each; then one worker drains the queue. The wait of a task is
 *    started_at - created_at; p50/p99 per tenant with groups (fair claiming) and
 *    without (the same tasks, no group).
 * 3. Idle groups (`--part=idle`, not in the default run): the time of one claim of 50
 *    tasks from 10 busy groups while 0, 1,000 and 10,000 groups without tasks exist.
 *
 *   node --import tsx bench/flow.ts [--jobs=20000] [--concurrency=10] [--groups=10] [--rounds=3]
 *                                   [--big=50000] [--tenants=10] [--small=100] [--part=cost,fairness,idle] [--statements]
 */
import pg from 'pg';
import { createCourier } from '../src/index.js';
import { BenchServer } from './postgres.js';

const flag = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const jobs = Number(flag('jobs', '20000'));
const concurrency = Number(flag('concurrency', '10'));
const groups = Number(flag('groups', '10'));
const rounds = Number(flag('rounds', '3'));
const big = Number(flag('big', '50000'));
const tenants = Number(flag('tenants', '10'));
const small = Number(flag('small', '100'));
const parts = flag('part', 'cost,fairness').split(',');
const showStatements = process.argv.includes('--statements');

type Item = { payload: { tenant: string }; group?: string };

const server = await BenchServer.start();

/** Enqueues `items` (in chunks, in order), then drains them with one worker; returns the drain's wall time (ms) and the database. */
async function drain(label: string, items: Item[][], queueOptions: Parameters<ReturnType<typeof createCourier>['configureQueue']>[1] | null) {
  const url = await server.freshDatabase(label);
  // With --statements, count the statements inside claim_flow_tasks too.
  if (showStatements) await server.admin.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET pg_stat_statements.track = 'all'`);
  const courier = createCourier({ connectionString: url, schema: 'pgcourier', poolSize: 10 });
  const total = items.reduce((n, part) => n + part.length, 0);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  courier.registerTask('noop', () => {
    if (++done === total) finish();
  });
  await courier.migrate();
  if (queueOptions) await courier.configureQueue('work', queueOptions);
  for (const part of items) {
    for (let i = 0; i < part.length; i += 5000) {
      await courier.enqueueMany(
        part.slice(i, i + 5000).map((it) => ({ name: 'noop', payload: it.payload, options: it.group ? { queue: 'work', group: it.group } : { queue: 'work' } })),
      );
    }
  }
  if (showStatements) await server.admin.query('/* bench */ SELECT pg_stat_statements_reset()');
  const t0 = performance.now();
  await courier.start({ concurrency });
  await finished;
  const ms = performance.now() - t0;
  await courier.stop({ grace: 5 });
  return { ms, courier, url };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

try {
  if (parts.includes('cost')) {
    const plain = Array.from({ length: jobs }, (_, i): Item => ({ payload: { tenant: `t${i % groups}` } }));
    const grouped = plain.map((it) => ({ ...it, group: it.payload.tenant }));
    const cases = [
      { name: 'plain (no group)', items: plain, settings: null },
      { name: `${groups} groups, fair`, items: grouped, settings: null },
      { name: `${groups} groups, fair, groupConcurrency 1000`, items: grouped, settings: { groupConcurrency: 1000 } },
    ];
    const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        const { ms, courier, url } = await drain('cost', [c.items], c.settings);
        if (showStatements && r === 0) {
          const stats = [...(await server.statements(url)).values()].sort((a, b) => b.ms - a.ms).slice(0, 10);
          console.log(`  ${c.name}: top statements`);
          for (const x of stats) console.log(`    ${((x.ms * 1000) / jobs).toFixed(1).padStart(6)} µs/task ${String(x.calls).padStart(6)} calls ${(x.rows / Math.max(1, x.calls)).toFixed(1).padStart(6)} rows/call  ${x.query.replace(/\s+/g, ' ').slice(0, 90)}`);
        }
        await courier.close({ grace: 0 });
        await server.drop(url);
        rates.get(c.name)?.push((jobs / ms) * 1000);
      }
    }
    const base = median(rates.get(cases[0]?.name as string) as number[]);
    console.log(`drain_noop, ${jobs} tasks, one worker, concurrency ${concurrency}, median of ${rounds} alternating rounds`);
    for (const c of cases) {
      const m = median(rates.get(c.name) as number[]);
      console.log(`  ${c.name.padEnd(44)} ${String(Math.round(m)).padStart(6)} tasks/s  ${(m / base).toFixed(2)} × plain   (rounds: ${(rates.get(c.name) as number[]).map(Math.round).join(', ')})`);
    }
  }

  if (parts.includes('fairness')) {
    console.log(`\nfairness: tenant "big" enqueues ${big}, then ${tenants} tenants enqueue ${small} each; one worker, concurrency ${concurrency}; wait = started_at - created_at`);
    for (const withGroups of [false, true]) {
      const bigItems = Array.from({ length: big }, (): Item => ({ payload: { tenant: 'big' }, ...(withGroups ? { group: 'big' } : {}) }));
      const smallItems = Array.from({ length: tenants * small }, (_, i): Item => {
        const tenant = `t${String(Math.floor(i / small) + 1).padStart(2, '0')}`;
        return { payload: { tenant }, ...(withGroups ? { group: tenant } : {}) };
      });
      const { ms, courier, url } = await drain('fair', [bigItems, smallItems], null);
      const { rows } = await courier.pool.query<{ tenant: string; p50: number; p99: number; n: string }>(
        `SELECT payload->>'tenant' AS tenant, count(*) AS n,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)) * 1000 AS p50,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)) * 1000 AS p99
           FROM pgcourier.tasks GROUP BY 1 ORDER BY 1`,
      );
      const smalls = rows.filter((r) => r.tenant !== 'big');
      console.log(`  ${withGroups ? 'with groups (fair claiming)' : 'without groups'}: drained ${big + tenants * small} in ${(ms / 1000).toFixed(1)} s`);
      for (const r of rows) console.log(`    ${r.tenant.padEnd(5)} n=${String(r.n).padStart(6)}  p50 ${Math.round(r.p50).toString().padStart(6)} ms  p99 ${Math.round(r.p99).toString().padStart(6)} ms`);
      console.log(`    small tenants: worst p50 ${Math.round(Math.max(...smalls.map((r) => r.p50)))} ms, worst p99 ${Math.round(Math.max(...smalls.map((r) => r.p99)))} ms`);
      await courier.close({ grace: 0 });
      await server.drop(url);
    }
  }
  if (parts.includes('idle')) {
    const url = await server.freshDatabase('idle');
    const courier = createCourier({ connectionString: url, schema: 'pgcourier' });
    courier.registerTask('noop', () => {});
    await courier.migrate();
    await courier.enqueueMany(Array.from({ length: 5000 }, (_, j) => ({ name: 'noop', payload: {}, options: { queue: 'work', group: `t${j % 10}` } })));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    console.log('\nidle groups: one claim of 50 tasks from 10 busy groups (median of 15)');
    for (const idle of [0, 1000, 10_000]) {
      await client.query(
        `INSERT INTO pgcourier.task_flows (queue, kind, key) SELECT 'work', 'group', 'idle' || g FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`,
        [idle],
      );
      await client.query('VACUUM ANALYZE pgcourier.task_flows');
      const ms: number[] = [];
      for (let k = 0; k < 15; k++) {
        const t0 = performance.now();
        await client.query(`SELECT * FROM pgcourier.claim_flow_tasks('work', '{noop}', 50, 'bench', 30, gen_random_uuid(), NULL, NULL, true, NULL, 'bench')`);
        ms.push(performance.now() - t0);
      }
      console.log(`  ${String(idle).padStart(6)} idle groups: ${median(ms).toFixed(2)} ms per claim`);
    }
    await client.end();
    await courier.close({ grace: 0 });
    await server.drop(url);
  }
} finally {
  await server.admin.end();
  await server.embedded?.destroy();
}
