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

  // Regression: without the schedule upserts in front, the first queries are
  // Processor.start()'s, which set its state to 'running' before them; when they failed,
  // Courier.start() rejected but kept the half-started processor: health() said running
  // and every later start() threw "is already started" (fixed in 993dacc).
  it('the same with cleanup and schedules off', async () => {
    await startWhileDown({ cleanup: false, schedules: false });
  }, 120_000);
});
