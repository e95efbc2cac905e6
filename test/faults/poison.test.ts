import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PoisonKind } from '../fixtures/faults-tasks.js';
import { auditFates, type FaultServer, Fleet, newScenario, report, type Scenario, startFaultServer, statusCounts, until } from './harness.js';

const POLL = 0.5;
let server: FaultServer;
let fleet: Fleet | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterEach(async () => {
  await fleet?.destroy();
  fleet = undefined;
});
afterAll(async () => {
  await server?.close();
});

async function worker(sc: Scenario): Promise<Fleet> {
  fleet = new Fleet({
    engineUrl: server.url,
    auditUrl: server.url,
    schema: sc.schema,
    args: ['--concurrency', '10', '--lease', '5', '--poll-interval', String(POLL), '--grace', '5'],
  });
  await fleet.spawn();
  return fleet;
}

/**
 * Enqueues each poison kind among `companions` ordinary tasks (so poison and healthy
 * outcomes share settle batches), then waits for every task to reach a final state.
 */
async function runPoison(sc: Scenario, kinds: readonly PoisonKind[], timeoutMs = 45_000, companions = 200): Promise<Map<PoisonKind, Awaited<ReturnType<Scenario['courier']['getTask']>>>> {
  const items = [
    ...kinds.map((kind) => ({ name: 'poison', payload: { kind }, options: { maxRetries: 0 } })),
    ...Array.from({ length: companions }, () => ({ name: 'audited', payload: {} })),
  ].sort(() => Math.random() - 0.5);
  const ids = await sc.courier.enqueueMany(items);
  let counts: Record<string, number> = {};
  await until(async () => {
    counts = await statusCounts(server.pool, sc.schema);
    return (counts.failed ?? 0) + (counts.succeeded ?? 0) === ids.length;
  }, timeoutMs, 'every poison task to fail and every other task to succeed', 250).catch((err: Error) => {
    throw new Error(`${err.message}; tasks by status: ${JSON.stringify(counts)}`);
  });
  const out = new Map<PoisonKind, Awaited<ReturnType<Scenario['courier']['getTask']>>>();
  for (const [i, item] of items.entries()) if (item.name === 'poison') out.set((item.payload as { kind: PoisonKind }).kind, await sc.courier.getTask(ids[i] as string));
  return out;
}

const readable: Record<Exclude<PoisonKind, 'throw_long_message_with_nul' | 'return_lone_surrogate'>, RegExp> = {
  sync_throw: /^Error: poison: thrown synchronously$/,
  throw_string: /^poison: a bare string$/,
  throw_null: /^non-error thrown: null$/,
  throw_circular: /^non-error thrown: /,
  throw_huge_message: /^Error: poison: x{100,}…$/,
  return_bigint: /not JSON-serialisable: TypeError: Do not know how to serialize a BigInt/,
  return_circular: /not JSON-serialisable: TypeError: Converting circular structure to JSON/,
  return_5mb: /^handler returned \d{7} bytes of JSON; results are limited to 1048576 bytes$/,
  return_nul: /NUL/,
};

describe('poison', () => {
  it('a handler that throws synchronously, throws a non-Error, returns a non-JSON value or a 5 MB result fails cleanly with a readable error', async () => {
    const sc = await newScenario(server, 'psn');
    const f = await worker(sc);
    const kinds = Object.keys(readable) as Array<keyof typeof readable>;
    const tasks = await runPoison(sc, kinds);
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'explained', pollInterval: POLL, status: (name) => (name === 'poison' ? 'failed' : 'succeeded') });
    const alive = f.allAlive();
    const codes = await f.stop();
    report('poison', { kinds: Object.fromEntries([...tasks].map(([k, t]) => [k, (t?.lastError ?? '').slice(0, 120)])), ...audit });

    expect(audit.violations).toEqual([]);
    for (const kind of kinds) {
      const t = tasks.get(kind);
      expect({ kind, status: t?.status, attempts: t?.attempts }).toEqual({ kind, status: 'failed', attempts: 1 });
      expect(t?.lastError, kind).toMatch(readable[kind]);
      expect((t?.lastError ?? '').length, kind).toBeLessThanOrEqual(4001);
    }
    expect(alive).toBe(true);
    expect(codes).toEqual([0]);
    await sc.close();
  }, 180_000);

  // Regression: these outcomes used to make the settle statement fail, and #flush retried
  // the whole batch forever, leaving the task and every healthy task settled in the same
  // batch `running` (fixed in 993dacc: storable error text, jsonb checks, per-item fallback).
  it('an error message or result Postgres cannot store (NUL inside a long message, lone surrogate) fails cleanly and wedges nothing', async () => {
    const sc = await newScenario(server, 'psn');
    const f = await worker(sc);
    const tasks = await runPoison(sc, ['throw_long_message_with_nul', 'return_lone_surrogate']);
    const audit = await auditFates(server.pool, sc.schema, { rerun: 'explained', pollInterval: POLL, status: (name) => (name === 'poison' ? 'failed' : 'succeeded') });
    const codes = await f.stop();
    report('poison-unstorable', { kinds: Object.fromEntries([...tasks].map(([k, t]) => [k, (t?.lastError ?? '').slice(0, 120)])), ...audit });
    expect(audit.violations).toEqual([]);
    expect(tasks.get('throw_long_message_with_nul')).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/^Error: poison: y{100}y+…$/) });
    expect(tasks.get('return_lone_surrogate')).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/lone UTF-16 surrogate/) });
    expect(codes).toEqual([0]);
    await sc.close();
  }, 120_000);

  // Regression: any finite retryDelay used to be accepted, and now() + 2^n × retryDelay
  // overflowed Postgres' timestamp range: the retry settlement failed forever (task wedged).
  // Now durations are capped at a year, and the largest accepted one settles.
  it('retry options accepted at enqueue always settle; larger ones are refused', async () => {
    const sc = await newScenario(server, 'psn');
    const f = await worker(sc);
    await expect(sc.courier.enqueueTask('flaky', {}, { retryDelay: 1e15 })).rejects.toMatchObject({ name: 'ValidationError', field: 'retryDelay' });
    const id = await sc.courier.enqueueTask('flaky', {}, { maxRetries: 2, retryDelay: 31_536_000 });
    const t = await until(async () => {
      const task = await sc.courier.getTask(id);
      return task?.status === 'queued' && task.attempts === 1 ? task : null;
    }, 30_000, 'the failed attempt to be settled as a retry', 250);
    expect(t.runAt.getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    expect(t.lastError).toBe('Error: flaky: attempt 1 failed');
    expect(await f.stop()).toEqual([0]);
    await sc.close();
  }, 120_000);
});
