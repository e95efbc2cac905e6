/**
 * What the cluster-event announcement costs a completion write, with and without a
 * registered listener (ADR 0005), in wall time per write so NOTIFY's commit-time
 * work is counted. The two cases alternate write by write on the same connection
 * and table, so a noisy machine shifts both alike.
 *
 *   node --import tsx bench/completion-notify.ts [--writes=400] [--sizes=1,10,300]
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sqlNames } from '../src/db/names.js';
import { createCourier } from '../src/index.js';
import { claimTasks } from '../src/worker/claim.js';
import { completeTasks } from '../src/worker/settle.js';
import { BenchServer } from './postgres.js';
import { percentile } from './stats.js';

const flag = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const writes = Number(flag('writes', '400'));
const sizes = flag('sizes', '1,10,300').split(',').map(Number);

const server = await BenchServer.start();
const url = await server.freshDatabase('completion_notify');
const courier = createCourier({ connectionString: url, poolSize: 2 });
try {
  await courier.migrate();
  courier.registerTask('noop', () => {});
  const names = sqlNames(courier.schema);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // A listener elsewhere, so the announced case really delivers.
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  await listener.query(`LISTEN "${names.events}"`);
  const listening = async (on: boolean) => {
    if (on) await db.query(`INSERT INTO ${names.eventListeners} (id, expires_at) VALUES ('bench', now() + interval '1 hour') ON CONFLICT (id) DO NOTHING`);
    else await db.query(`DELETE FROM ${names.eventListeners}`);
  };
  console.log(`completion write, wall µs per write (median, p95), ${writes} writes per case, interleaved`);
  console.log('| outcomes per write | nobody listens | a listener registered | saved per write |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (const size of sizes) {
    const times: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let w = 0; w < writes * 2; w++) {
      const mode = w % 2 === 0 ? 'off' : 'on';
      await courier.enqueueMany(Array.from({ length: size }, () => ({ name: 'noop', payload: {} })));
      const claimed = await claimTasks(db, names, { workerId: 'bench', names: ['noop'], queues: null, exclude: [], limit: size, lease: 60, token: randomUUID() });
      await listening(mode === 'on');
      const t0 = performance.now();
      await completeTasks(db, names, 'bench', claimed.map((c) => ({ id: c.id, token: c.token, result: null })));
      times[mode].push((performance.now() - t0) * 1000);
    }
    const med = (xs: number[]) => percentile(xs, 50);
    const p95 = (xs: number[]) => percentile(xs, 95);
    console.log(`| ${size} | ${med(times.off).toFixed(0)} (${p95(times.off).toFixed(0)}) | ${med(times.on).toFixed(0)} (${p95(times.on).toFixed(0)}) | ${(med(times.on) - med(times.off)).toFixed(0)} µs (${(100 * (1 - med(times.off) / med(times.on))).toFixed(0)}%) |`);
  }
  await listener.end();
  await db.end();
} finally {
  await courier.close();
  await server.drop(url).catch(() => {});
  await server.stop();
}
