import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFates, type FaultServer, Fleet, newScenario, report, startFaultServer, statusCounts, until } from './harness.js';

const POLL = 0.5;
let server: FaultServer;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await fleet?.destroy();
  await server?.close();
});

describe('a handler that hangs forever', () => {
  it('ignoring its signal: the timeout fails the attempt, the slot is freed, the process stays healthy', async () => {
    const sc = await newScenario(server, 'hang');
    fleet = new Fleet({
      engineUrl: server.url,
      auditUrl: server.url,
      schema: sc.schema,
      // Two slots only: had a hung handler kept its slot, nothing after the hangs could run.
      args: ['--concurrency', '2', '--lease', '5', '--poll-interval', String(POLL), '--grace', '5'],
    });
    const [worker] = [await fleet.spawn()];
    const hangs = await sc.courier.enqueueMany(
      Array.from({ length: 4 }, () => ({ name: 'hang', payload: {}, options: { priority: 1, timeout: 1, maxRetries: 1, retryDelay: 0.1 } })),
    );
    const first = await sc.courier.enqueueMany(Array.from({ length: 40 }, () => ({ name: 'audited', payload: {}, options: { priority: 5 } })));
    await until(async () => {
      const c = await statusCounts(server.pool, sc.schema);
      return c.failed === hangs.length && c.succeeded === first.length;
    }, 120_000, 'the hung tasks to fail and the others to succeed', 250);

    // Still healthy afterwards: it keeps claiming and running.
    const later = await sc.courier.enqueueMany(Array.from({ length: 20 }, () => ({ name: 'audited', payload: {} })));
    await until(async () => (await statusCounts(server.pool, sc.schema)).succeeded === first.length + later.length, 60_000, 'work after the hangs', 250);

    const tasks = await Promise.all(hangs.map((id) => sc.courier.getTask(id)));
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'explained', pollInterval: POLL, status: (name) => (name === 'hang' ? 'failed' : 'succeeded') });
    const alive = fleet.allAlive();
    const log = worker?.log() ?? '';
    const codes = await fleet.stop();
    report('hanging-handler', { hangs: hangs.length, others: first.length + later.length, lastError: tasks[0]?.lastError, ...audit });

    expect(audit.violations).toEqual([]);
    for (const t of tasks) {
      expect(t).toMatchObject({ status: 'failed', attempts: 2, lastError: 'TaskTimeoutError: timed out after 1s' });
      expect(t?.errors.map((e) => e.attempt)).toEqual([1, 2]);
    }
    // Each hung attempt really started (and then never finished).
    expect(audit.runs).toBe(hangs.length * 2 + first.length + later.length);
    expect(alive).toBe(true);
    expect(log).not.toMatch(/unhandled|uncaught|FATAL/i);
    expect(codes).toEqual([0]);
    await sc.close();
  }, 300_000);
});
