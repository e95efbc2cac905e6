import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFates, enqueueBulk, explainStuck, type FaultServer, Fleet, listeners, newScenario, report, startFaultServer, statusCounts, until } from './harness.js';
import { FaultProxy } from './proxy.js';

const WORKERS = 3;
// The lease outlives the whole outage (slow + cut + stall), so no live worker may lose one.
const LEASE = 30;
// A poll this long cannot pass for a NOTIFY wake-up in the checks below.
const POLL = 60;
const FAULT_MS = 5000;

let server: FaultServer;
let proxy: FaultProxy;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
  proxy = await FaultProxy.start({ port: server.server.port });
});
afterAll(async () => {
  await fleet?.destroy();
  await proxy?.close();
  await server?.close();
});

const hold = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('network faults between workers and Postgres', () => {
  it('slow, then every connection cut for 5 s, then stalled for 5 s: nothing lost or doubled, leases honoured, LISTEN re-established', async () => {
    const sc = await newScenario(server, 'net');
    const debug = (...args: unknown[]) => process.env.FAULTS_DEBUG && console.error(new Date().toISOString(), ...args);
    await enqueueBulk(sc.courier, 2000, 'audited', () => ({ ms: 20 }));
    fleet = new Fleet({
      engineUrl: proxy.url(server.url),
      auditUrl: server.url,
      schema: sc.schema,
      args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', String(POLL), '--grace', '5'],
    });
    await fleet.start(WORKERS);
    const pids = fleet.pids();
    const before = await until(async () => {
      const l = await listeners(server.pool, sc.schema);
      return l.length === WORKERS ? l : null;
    }, 30_000, 'every worker to LISTEN');

    // Keep enqueuing (directly, not through the proxy) for the whole outage: the NOTIFYs
    // sent while a worker's LISTEN connection is down are lost to it.
    let producing = true;
    let produced = 2000;
    const producer = (async () => {
      while (producing) {
        await sc.courier.enqueueMany(Array.from({ length: 20 }, () => ({ name: 'audited', payload: { ms: Math.floor(Math.random() * 100) } })));
        produced += 20;
        await hold(100);
      }
    })();

    await until(async () => ((await statusCounts(server.pool, sc.schema)).succeeded ?? 0) >= 200, 60_000, 'work to flow');
    proxy.slow(40);
    debug('slow', await statusCounts(server.pool, sc.schema));
    await hold(FAULT_MS);
    const cutAt = new Date();
    const acceptedBeforeCut = proxy.accepted;
    proxy.cut();
    debug('cut', await statusCounts(server.pool, sc.schema));
    expect(proxy.connections).toBe(0);
    // The old backends go away once their sockets are reset.
    await until(async () => (await listeners(server.pool, sc.schema)).length === 0, 10_000, 'the cut LISTEN backends to end');
    await hold(FAULT_MS);
    const refusedDuringCut = proxy.accepted - acceptedBeforeCut;
    proxy.stall();
    debug('stall', await statusCounts(server.pool, sc.schema), 'connection attempts reset during the cut', refusedDuringCut);
    await hold(FAULT_MS);
    const stalledConnections = proxy.connections;
    proxy.resume();
    const resumedAt = new Date();
    producing = false;
    await producer;
    debug('resumed', await statusCounts(server.pool, sc.schema), 'connections held in stall', stalledConnections);

    // Every worker re-LISTENs on a new connection, without being restarted.
    const after = await until(async () => {
      const l = await listeners(server.pool, sc.schema);
      return l.length === WORKERS ? l : null;
    }, 60_000, 'every worker to LISTEN again');
    expect(after.filter((l) => before.some((b) => b.pid === l.pid))).toEqual([]);
    for (const l of after) expect(l.backendStart.getTime()).toBeGreaterThanOrEqual(cutAt.getTime() - 1000);

    // The backlog drains; then a NOTIFY alone must wake a worker (the poll is 60 s away).
    await until(async () => !(await statusCounts(server.pool, sc.schema)).queued, 120_000, 'the backlog to drain', 500, () => explainStuck(server.pool, sc.schema, fleet));
    const wakeups: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const id = await sc.courier.enqueueTask('audited', {}, { priority: 1 });
      await until(async () => (await sc.courier.getTask(id))?.status === 'succeeded', 10_000, `wake-up ${i + 1} through NOTIFY`, 50);
      wakeups.push(Date.now() - t0);
    }
    produced += 3;

    // Claims whose reply was lost in the cut leave tasks running under a lease nobody
    // renews: rescue returns them once that lease (30 s) runs out.
    await until(async () => (await statusCounts(server.pool, sc.schema)).succeeded === produced, 150_000, 'every task to succeed', 1000, () => explainStuck(server.pool, sc.schema, fleet));
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'none', pollInterval: POLL });
    const ranAfterResume = await server.pool.query<{ pid: number }>(`SELECT DISTINCT pid FROM "${sc.schema}".audit WHERE at > $1`, [resumedAt]);
    const alive = fleet.allAlive();
    const codes = await fleet.stop();
    report('network-cut-stall', {
      workers: WORKERS,
      faultSeconds: { slow40ms: FAULT_MS / 1000, cut: FAULT_MS / 1000, stall: FAULT_MS / 1000 },
      connectionAttemptsResetDuringCut: refusedDuringCut,
      stalledConnections,
      notifyWakeupMs: wakeups,
      ...audit,
    });

    expect(audit.violations).toEqual([]);
    expect(audit.byStatus).toEqual({ succeeded: produced });
    // The faults were real: workers tried to reconnect during the cut and were reset,
    // and connections opened during the stall were held.
    expect(refusedDuringCut).toBeGreaterThan(0);
    expect(stalledConnections).toBeGreaterThan(0);
    expect(alive).toBe(true);
    expect(fleet.all.map((w) => w.child.pid)).toEqual(pids); // no worker was restarted
    expect(ranAfterResume.rows.map((r) => r.pid).sort()).toEqual([...pids].sort());
    expect(codes).toEqual(pids.map(() => 0));
    await sc.close();
  }, 600_000);
});
