import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFates, enqueueBulk, explainStuck, type FaultServer, Fleet, newScenario, report, startFaultServer, statusCounts, until } from './harness.js';
import { FaultProxy } from './proxy.js';

const LEASE = 4;
const GRACE = 2;
const POLL = 0.5;

let server: FaultServer;
let proxy: FaultProxy;
const fleets: Fleet[] = [];

beforeAll(async () => {
  server = await startFaultServer();
  proxy = await FaultProxy.start({ port: server.server.port });
});
afterAll(async () => {
  for (const f of fleets) await f.destroy();
  await proxy?.close();
  await server?.close();
});

let exit: unknown;

describe('shutdown while Postgres is unreachable', () => {
  it('SIGTERM with every connection cut, then SIGKILL if it hangs: its unfinished tasks are rescued, none lost or doubled', async () => {
    const sc = await newScenario(server, 'shut');
    await enqueueBulk(sc.courier, 300, 'audited', () => ({ ms: 300 }));
    const first = new Fleet({
      engineUrl: proxy.url(server.url),
      auditUrl: server.url,
      schema: sc.schema,
      args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', String(POLL), '--grace', String(GRACE)],
    });
    fleets.push(first);
    const w = await first.spawn();
    await until(async () => ((await statusCounts(server.pool, sc.schema)).succeeded ?? 0) >= 20, 60_000, 'work to flow');
    proxy.cut();
    const t0 = Date.now();
    w.kill('SIGTERM');
    // Handlers get the grace period; then the worker cannot write anything. It must not
    // hang forever: an orchestrator would SIGKILL it anyway, and rescue covers the rest.
    const code = await Promise.race([w.exited, new Promise((r) => setTimeout(() => r('still running'), (GRACE + LEASE) * 1000 + 15_000))]);
    const exitedAfterMs = Date.now() - t0;
    proxy.resume();
    if (code === 'still running') first.killed.add(w.child.pid as number);
    await first.destroy();

    // A second worker finishes the work; tasks the first one left running come back after their lease.
    const second = new Fleet({ engineUrl: server.url, auditUrl: server.url, schema: sc.schema, args: ['--concurrency', '10', '--lease', String(LEASE), '--poll-interval', String(POLL)] });
    fleets.push(second);
    await second.spawn();
    await until(async () => (await statusCounts(server.pool, sc.schema)).succeeded === 300, 120_000, 'every task to succeed', 500, () => explainStuck(server.pool, sc.schema));
    await second.stop();
    // The first worker stopped talking to Postgres: for the audit it died like a killed one.
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'killed', killedPids: new Set([w.child.pid as number]), pollInterval: POLL });
    report('shutdown-while-cut', { exit: code, exitedAfterMs, ...audit });

    expect(audit.violations).toEqual([]);
    exit = code;
    await sc.close();
  }, 300_000);

  // Regression (fixed in Processor.stop: every wait after the grace period is bounded):
  // stop() awaits #drainWrites(), whose #flush retries unwritten outcomes forever, and then
  // heartbeat.stopped() (a query with no timeout). With Postgres unreachable the worker
  // never exits after SIGTERM; only SIGKILL ends it.
  it(`the worker exits on SIGTERM within grace + lease + 15 s although it cannot write its outcomes`, () => {
    expect(exit).toBeDefined();
    expect(exit).not.toBe('still running');
  });
});
