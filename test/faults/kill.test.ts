import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFates, enqueueBulk, explainStuck, type FaultServer, Fleet, newScenario, report, startFaultServer, statusCounts, until, watchLeases } from './harness.js';

const TASKS = Number(process.env.FAULTS_KILL_TASKS ?? 50_000);
const PROCESSES = 4;
const LEASE = 5;
const POLL = 0.5;
const KILL_EVERY_MS = 3000;

let server: FaultServer;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await fleet?.destroy();
  await server?.close();
});

describe('SIGKILL', () => {
  it(`random workers SIGKILLed every ${KILL_EVERY_MS / 1000} s while ${PROCESSES} processes run ${TASKS} tasks: all succeed, none doubled`, async () => {
    const sc = await newScenario(server, 'kill');
    const started = Date.now();
    await enqueueBulk(sc.courier, TASKS, 'audited');
    fleet = new Fleet({
      engineUrl: server.url,
      auditUrl: server.url,
      schema: sc.schema,
      args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', String(POLL), '--grace', '5'],
    });
    await fleet.start(PROCESSES);
    const leases = watchLeases(server.pool, sc.schema);

    // Kill one random worker every few seconds and start a replacement (in the background:
    // a cold start takes seconds on a loaded machine), until 90% of the tasks are done.
    const kills: Array<{ pid: number; succeededAt: number }> = [];
    const spawning: Array<Promise<unknown>> = [];
    for (;;) {
      const counts = await statusCounts(server.pool, sc.schema);
      if (process.env.FAULTS_DEBUG) console.error(new Date().toISOString(), JSON.stringify(counts), fleet.pids());
      const done = counts.succeeded ?? 0;
      if (done >= TASKS * 0.9) break;
      await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
      if (fleet.live.length < PROCESSES - 1) continue; // at most one replacement booting at a time
      const pid = await fleet.killRandom();
      kills.push({ pid, succeededAt: done });
      spawning.push(fleet.spawn());
    }
    await Promise.all(spawning);
    await until(
      async () => {
        const counts = await statusCounts(server.pool, sc.schema);
        if (process.env.FAULTS_DEBUG) console.error(new Date().toISOString(), 'final', JSON.stringify(counts), fleet?.pids());
        return counts.succeeded === TASKS;
      },
      240_000,
      'every task to succeed',
      1000,
      () => explainStuck(server.pool, sc.schema, fleet),
    );
    const lease = await leases.stop();
    const codes = await fleet.stop();
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'killed', killedPids: fleet.killed, pollInterval: POLL });
    report('sigkill', { processes: PROCESSES, kills: kills.length, seconds: Math.round((Date.now() - started) / 1000), maxLeaseOverdueSeconds: +lease.maxOverdueSeconds.toFixed(2), ...audit });

    expect(kills.length).toBeGreaterThanOrEqual(3);
    expect(audit.violations).toEqual([]);
    expect(audit.byStatus).toEqual({ succeeded: TASKS });
    // The faults were real: killed workers left attempts that rescue had to end.
    expect(audit.rescuedAttempts).toBeGreaterThan(0);
    // A dead worker's task waits for its lease to run out and the next rescue round, no more.
    expect(lease.maxOverdueSeconds).toBeLessThan(LEASE / 2 + 15);
    expect(codes).toEqual(codes.map(() => 0));
    await sc.close();
  }, 600_000);
});
