/**
 * Cost profile of a drain, in figures that hold on a noisy shared machine: Node CPU
 * per job (process.cpuUsage of this process, which runs the consumer) and Postgres
 * execution time per job per statement (pg_stat_statements), beside the wall rate.
 * Any peer of the bench can be profiled, so the figures compare like for like. WAL
 * bytes per job are the server's WAL position moved during the drain: meaningful only
 * while nothing else writes to that server.
 *
 *   node --import tsx bench/profile-drain.ts [--peer=pgcourier] [--jobs=20000] [--concurrency=10] [--alter="SQL"]
 *
 * `--alter` runs SQL on the migrated database before the jobs are loaded: a way to
 * measure what one index, constraint or trigger costs the drain (an experiment only).
 */
import pg from 'pg';
import { loadPeer } from './peers/index.js';
import { BenchServer } from './postgres.js';
import type { BenchPayload, PeerName } from './types.js';

const flag = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const peerName = flag('peer', 'pgcourier') as PeerName;
const n = Number(flag('jobs', '20000'));
const concurrency = Number(flag('concurrency', '10'));

const server = await BenchServer.start();
const url = await server.freshDatabase('profile');
try {
  const peer = await loadPeer(peerName);
  const instance = await peer.open(url);
  const alter = process.argv.find((a) => a.startsWith('--alter='))?.slice('--alter='.length);
  if (alter) {
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    await admin.query(alter);
    await admin.end();
  }
  for (let i = 0; i < n; i += 1000) {
    await instance.enqueueMany(Array.from({ length: Math.min(1000, n - i) }, (_, j): BenchPayload => ({ i: i + j, t: 0 })));
  }
  await server.admin.query('/* bench */ SELECT pg_stat_statements_reset()');
  const lsn = async () => String((await server.admin.query('/* bench */ SELECT pg_current_wal_lsn()::text AS l')).rows[0].l);
  const lsn0 = await lsn();
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  console.error('draining'); // a marker for external profilers (perf record) to start on
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const consumer = await instance.startConsumer({
    concurrency,
    handler: () => {
      if (++done === n) finish();
      return undefined;
    },
  });
  await finished;
  const wall = performance.now() - t0;
  while ((await instance.outstanding()) > 0) await new Promise((r) => setTimeout(r, 10));
  const cpu = process.cpuUsage(cpu0);
  const lsn1 = await lsn();
  await consumer.stop();
  const walBytes = Number((await server.admin.query('/* bench */ SELECT pg_wal_lsn_diff($1, $2) AS d', [lsn1, lsn0])).rows[0].d);
  const stats = [...(await server.statements(url)).values()].sort((a, b) => b.ms - a.ms);
  await instance.close();
  const pgMs = stats.reduce((s, x) => s + x.ms, 0);
  const calls = stats.reduce((s, x) => s + x.calls, 0);
  const us = (ms: number) => ((ms * 1000) / n).toFixed(1);
  console.log(`${peerName}: ${n} jobs, c=${concurrency}`);
  console.log(
    `  rate ${Math.round((n / wall) * 1000)} jobs/s | node cpu ${((cpu.user + cpu.system) / n).toFixed(1)} µs/job | postgres ${us(pgMs)} µs/job | ${(calls / n).toFixed(4)} statements/job | ${Math.round(walBytes / n)} WAL bytes/job`,
  );
  for (const s of stats.slice(0, 12)) {
    console.log(`  ${us(s.ms).padStart(6)} µs/job ${String(s.calls).padStart(6)} calls ${(s.rows / Math.max(1, s.calls)).toFixed(1).padStart(6)} rows/call  ${s.query.replace(/\s+/g, ' ').slice(0, 100)}`);
  }
} finally {
  await server.drop(url);
  await server.admin.end();
  await server.embedded?.destroy();
}
