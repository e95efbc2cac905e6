import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { freshSchema } from '../helpers/db.js';
import { type FaultServer, startFaultServer, until } from './harness.js';

let server: FaultServer;
let courier: Courier | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await courier?.close({ grace: 0 }).catch(() => {});
  if (server.server) await server.server.start().catch(() => {});
  await server?.close();
});

describe('Postgres down when a worker starts', () => {
  async function startWhileDown(options: Record<string, unknown>): Promise<void> {
    const c = createCourier({ connectionString: server.url, schema: freshSchema('up'), poolSize: 4 });
    courier = c;
    await c.migrate();
    const ran: string[] = [];
    c.registerTask('t', (_p, ctx) => void ran.push(ctx.taskId));
    await server.server.stop();
    try {
      await expect(c.start({ pollInterval: 0.2, ...options })).rejects.toThrow();
      expect(c.health().running).toBe(false);
    } finally {
      await server.server.start();
    }
    await until(() => c.start({ pollInterval: 0.2, ...options }).then(() => true), 30_000, 'start() to succeed with Postgres back');
    const id = await c.enqueueTask('t', {});
    await until(() => ran.includes(id), 10_000, 'the task to run');
    await c.close({ grace: 0 });
    courier = undefined;
  }

  it('start() fails cleanly while Postgres is down, and succeeds once it is back', async () => {
    await startWhileDown({});
  }, 120_000);

  // KNOWN BUG (reported; `it.fails` until src/courier.ts Courier.start is fixed): without the
  // schedule upserts in front, the first queries are Processor.start()'s, which sets its state
  // to 'running' before them; when they fail, Courier.start() rejects but keeps the
  // half-started processor: health() says running and every later start() throws
  // "is already started", so the courier can never start.
  it.fails('the same with cleanup and schedules off', async () => {
    await startWhileDown({ cleanup: false, schedules: false });
  }, 120_000);
});
