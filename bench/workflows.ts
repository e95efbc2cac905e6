/**
 * What dependencies cost, each figure against a peer measured in the same run
 * (rounds alternate, so machine noise hits both sides alike):
 * - plain tasks with the dependency trigger installed vs the same schema without it
 *   (wall time and Postgres time of the completion statement per task);
 * - 3-step chains vs the same number of independent tasks;
 * - a 1,000-member fan-in (one join) vs 1,001 independent tasks;
 * - tracing on (`@opentelemetry/api` with a registered SDK) vs off: plain tasks
 *   (wall time and the completion statement, which then also stores each run span),
 *   3-step chains and the 1,000-member fan-in (whose dependents read and link
 *   their parents' run spans).
 *
 *   node --import tsx bench/workflows.ts [--rounds=3] [--plain=10000] [--chains=300] [--concurrency=10]
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { type Courier, createCourier } from '../src/index.js';
import { BenchServer, statementDelta } from './postgres.js';

const flag = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const rounds = Number(flag('rounds', '3'));
const plain = Number(flag('plain', '10000'));
const chains = Number(flag('chains', '300'));
const concurrency = Number(flag('concurrency', '10'));

const server = await BenchServer.start();
// One database per side: pg_stat_statements groups statements on same-named tables of two schemas.
const urls = new Map<string, string>();

async function open(schema: string, withTrigger = true): Promise<Courier> {
  const url = await server.freshDatabase(schema);
  urls.set(schema, url);
  const courier = createCourier({ connectionString: url, schema, poolSize: 10 });
  courier.registerTask('noop', () => 1);
  courier.registerTask('join', async (_p, ctx) => Object.keys(await ctx.parents).length);
  await courier.migrate();
  if (!withTrigger) await courier.pool.query(`DROP TRIGGER tasks_release_dependents ON "${schema}".tasks`);
  return courier;
}

/**
 * Enqueues with `fill`, then runs a worker until `total` tasks succeeded; wall ms,
 * this process's CPU ms (the worker's), and the Postgres ms of the completion
 * statement and of tracing's link read.
 */
async function drain(courier: Courier, fill: () => Promise<unknown>, total: number): Promise<{ wall: number; cpu: number; settle: number; links: number }> {
  await courier.pool.query(`/* bench */ TRUNCATE "${courier.schema}".tasks`);
  await fill();
  const url = urls.get(courier.schema) as string;
  const before = await server.statements(url);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await courier.start({ concurrency });
  for (;;) {
    const { rows } = await courier.pool.query(`SELECT /* bench */ count(*)::int AS n FROM "${courier.schema}".tasks WHERE status = 'succeeded'`);
    if (rows[0].n >= total) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  await courier.stop({ grace: 5 });
  const delta = statementDelta(before, await server.statements(url));
  const ms = (marker: string) => delta.filter((d) => d.query.includes(marker)).reduce((a, d) => a + d.ms, 0);
  return { wall, cpu: (used.user + used.system) / 1000, settle: ms('WITH done AS'), links: ms('AS parent_count') };
}

const many = (courier: Courier, n: number) => async () => {
  for (let i = 0; i < n; i += 1000) await courier.enqueueMany(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop', payload: {} })));
};

// Tracing "on" samples every span (an SDK with a batch processor, as in production);
// "off" samples none, which costs what a process without an SDK pays.
let sampling = false;
const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    sampler: { shouldSample: () => ({ decision: sampling ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD }), toString: () => 'bench' },
    spanProcessors: [new BatchSpanProcessor(exporter)],
  }),
);
/** `fill` run inside a request span, as a traced web handler would enqueue. */
const inSpan = (fill: () => Promise<unknown>) => async () => {
  const span = trace.getTracer('bench').startSpan('request');
  await context.with(trace.setSpan(context.active(), span), fill);
  span.end();
};

const withTrigger = await open('wf_trigger');
const noTrigger = await open('wf_plain', false);
const rows: Array<{ case: string; a: number[]; b: number[]; unit: string }> = [
  { case: `${plain} plain tasks, wall µs/task: trigger installed vs not`, a: [], b: [], unit: 'µs' },
  { case: `${plain} plain tasks, completion statement µs/task: trigger installed vs not`, a: [], b: [], unit: 'µs' },
  { case: `${chains} chains of 3 vs ${chains * 3} independent tasks, wall ms`, a: [], b: [], unit: 'ms' },
  { case: '1,000-member fan-in + join vs 1,001 independent tasks, wall ms', a: [], b: [], unit: 'ms' },
  { case: `${plain} plain tasks, wall µs/task: tracing on vs off`, a: [], b: [], unit: 'µs' },
  { case: `${plain} plain tasks, completion statement µs/task: tracing on vs off`, a: [], b: [], unit: 'µs' },
  { case: `${plain} plain tasks, worker CPU µs/task: tracing on vs off`, a: [], b: [], unit: 'µs' },
  { case: `${plain} plain tasks, link read µs/task: tracing on vs the completion statement (off)`, a: [], b: [], unit: 'µs' },
  { case: `${chains} chains of 3, wall ms: tracing on vs off`, a: [], b: [], unit: 'ms' },
  { case: '1,000-member fan-in + join, wall ms: tracing on vs off', a: [], b: [], unit: 'ms' },
];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [withTrigger, noTrigger] : [noTrigger, withTrigger];
  for (const c of order) {
    const out = await drain(c, many(c, plain), plain);
    const wall = rows[0] as (typeof rows)[number];
    const settle = rows[1] as (typeof rows)[number];
    (c === withTrigger ? wall.a : wall.b).push((out.wall * 1000) / plain);
    (c === withTrigger ? settle.a : settle.b).push((out.settle * 1000) / plain);
  }
  const c = withTrigger;
  const chained = async () => {
    for (let i = 0; i < chains; i++) {
      const a = await c.enqueueTask('noop', {});
      const b = await c.enqueueTask('noop', {}, { dependsOn: [a] });
      await c.enqueueTask('noop', {}, { dependsOn: [b] });
    }
  };
  const independent = many(c, chains * 3);
  const fanIn = async () => {
    const ids = await c.enqueueMany(Array.from({ length: 1000 }, () => ({ name: 'noop', payload: {} })));
    await c.enqueueTask('join', {}, { dependsOn: ids });
  };
  const cases: Array<[number, () => Promise<unknown>, () => Promise<unknown>, number]> = [
    [2, chained, independent, chains * 3],
    [3, fanIn, many(c, 1001), 1001],
  ];
  for (const [row, graph, peer, total] of cases) {
    const pair = r % 2 === 0 ? ([graph, peer] as const) : ([peer, graph] as const);
    for (const fill of pair) {
      const out = await drain(c, fill, total);
      (fill === graph ? rows[row]?.a : rows[row]?.b)?.push(out.wall);
    }
  }
  for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
    sampling = on;
    const side = on ? 'a' : 'b';
    const out = await drain(c, inSpan(many(c, plain)), plain);
    rows[4]?.[side].push((out.wall * 1000) / plain);
    rows[5]?.[side].push((out.settle * 1000) / plain);
    rows[6]?.[side].push((out.cpu * 1000) / plain);
    // The link read runs only while tracing is on; its peer is the completion statement it adds to.
    rows[7]?.[side].push(((on ? out.links : out.settle) * 1000) / plain);
    rows[8]?.[side].push((await drain(c, inSpan(chained), chains * 3)).wall);
    rows[9]?.[side].push((await drain(c, inSpan(fanIn), 1001)).wall);
    exporter.reset();
  }
  sampling = false;
}
await withTrigger.close();
await noTrigger.close();
await server.stop();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(`workflows bench: ${rounds} rounds, concurrency ${concurrency} (medians; ratio = first / second)`);
for (const row of rows) {
  const a = median(row.a);
  const b = median(row.b);
  console.log(`  ${row.case}: ${a.toFixed(1)} vs ${b.toFixed(1)} ${row.unit} → ${(a / b).toFixed(2)}×`);
}
