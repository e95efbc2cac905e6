// pgcourier behind a real PgBouncer in transaction mode (Debian's 1.18: no
// protocol-level prepared statements): the core scenarios, LISTEN through a direct
// connection or none at all, and a 20,000-task drain by worker processes, audited
// from the table as the fault suite does.
import { Writable } from 'node:stream';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { auditFates, enqueueBulk, Fleet, newScenario, report } from '../faults/harness.js';
import { databaseUrl, freshSchema, OWN_TASKS, testPool, waitFor } from '../helpers/db.js';
import { type Bouncer, pgbouncerBinary, startPgbouncer } from '../helpers/pgbouncer.js';

const installed = pgbouncerBinary() !== undefined;
if (!installed) {
  // CI installs it (.ci/run); there a missing binary is a failure, not a skip.
  if (process.env.CI) throw new Error('pgbouncer is not installed: .ci/run must apt-get install pgbouncer');
  console.warn('[pgbouncer] SKIPPED: the pgbouncer binary is not installed (apt-get install -y pgbouncer)');
}

/** A pino logger whose lines are kept, to check what was logged. */
function capturingLogger(): { logger: pino.Logger; lines: () => Array<{ level: number; msg: string }> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines: () => lines.flatMap((l) => l.split('\n').filter(Boolean).map((x) => JSON.parse(x))) };
}

describe.skipIf(!installed)('behind PgBouncer in transaction mode', () => {
  let bouncer: Bouncer;
  let direct: pg.Pool;

  beforeAll(async () => {
    // Few server connections for many clients: transactions of one client land on different ones.
    bouncer = await startPgbouncer(databaseUrl(), { poolSize: 4 });
    direct = testPool();
  });

  afterAll(async () => {
    await direct?.end();
    await bouncer?.stop();
  });

  it('runs the core scenarios with preparedStatements: false, polling, and says so once in the log and in doctor', async () => {
    const { logger, lines } = capturingLogger();
    const courier: Courier = createCourier({ connectionString: bouncer.url, schema: freshSchema('pgb'), preparedStatements: false, logger, poolSize: 8 });
    try {
      await courier.migrate();
      const polls = lines().filter((l) => /^poll-only/.test(l.msg));
      expect(polls).toHaveLength(1);
      expect(polls[0]?.level).toBe(40);
      const doctor = await courier.doctor();
      expect(doctor.find((c) => c.name === 'listen')).toMatchObject({ level: 'warn', detail: expect.stringMatching(/^poll-only/) });
      expect(doctor.find((c) => c.name === 'prepared statements')?.detail).toMatch(/preparedStatements: false/);

      const runs = new Map<string, number>();
      let flakyCalls = 0;
      courier.registerTask('plain', async (_p, ctx) => {
        runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
        await ctx.progress(1, 1);
        return { ok: true };
      });
      courier.registerTask(
        'flaky',
        async () => {
          if (++flakyCalls === 1) throw new Error('first attempt fails');
          return 'second';
        },
        { maxRetries: 2, retryDelay: 0 },
      );
      let cappedNow = 0;
      let cappedMost = 0;
      courier.registerTask(
        'capped',
        async () => {
          cappedMost = Math.max(cappedMost, ++cappedNow);
          await new Promise((r) => setTimeout(r, 30));
          cappedNow--;
        },
        { queue: 'capped' },
      );
      await courier.configureQueue('capped', { concurrency: 1 });

      // runTaskNow claims by id through the statement that is prepared elsewhere.
      const now = await courier.enqueueTask('plain', {}, { delay: 3600 });
      expect(await courier.runTaskNow(now)).toBe(true);

      // No built-in cleanup schedule: its hourly task would be one more succeeded task below.
      await courier.start({ concurrency: 8, pollInterval: 0.2, cleanup: false });
      await waitFor(() => courier.health().ok, 5000, 'a healthy worker without LISTEN');
      expect(courier.health().listening).toBe(false);
      const plain = await courier.enqueueMany(Array.from({ length: 50 }, () => ({ name: 'plain', payload: {} })));
      const flaky = await courier.enqueueTask('flaky', {});
      const delayed = await courier.enqueueTask('plain', {}, { delay: 0.5 });
      await courier.enqueueMany(Array.from({ length: 5 }, () => ({ name: 'capped', payload: {} })));
      const keyed = await courier.enqueueTask('plain', {}, { key: 'once', delay: 3600 });
      expect(await courier.enqueueTask('plain', {}, { key: 'once', delay: 3600 })).toBe(keyed);
      expect(await courier.cancel(keyed)).toBe(true);

      // waitForTask without LISTEN: the re-read finds the outcome.
      const done = await courier.waitForTask(flaky, { timeout: 20 });
      expect(done).toMatchObject({ status: 'succeeded', attempts: 2, result: 'second' });
      await waitFor(async () => (await courier.queueStatus()).total.succeeded === plain.length + 1 + 1 + 5 + 1, 20_000, 'every task to finish');
      expect((await courier.getTask(delayed))?.status).toBe('succeeded');
      expect((await courier.getTask(plain[0] as string))?.progress).toEqual({ current: 1, total: 1 });
      for (const id of [...plain, delayed, now]) expect(runs.get(id)).toBe(1);
      // The cap held across transactions on different server connections: never two at once.
      expect(cappedMost).toBe(1);
      const limiter = courier.rateLimiter('pgb', '2/s');
      expect((await limiter.acquire()).granted).toBe(true);
      expect((await limiter.acquire()).granted).toBe(true);
      expect((await limiter.acquire()).granted).toBe(false);
      expect(lines().filter((l) => /^poll-only/.test(l.msg))).toHaveLength(1);
    } finally {
      await courier.close({ grace: 5 });
    }
  });

  it('wakes by NOTIFY through listenConnectionString, a direct connection beside the pooler', async () => {
    const courier = createCourier({ connectionString: bouncer.url, listenConnectionString: databaseUrl(), preparedStatements: false, schema: freshSchema('pgb') });
    try {
      await courier.migrate();
      const ran: string[] = [];
      courier.registerTask('plain', async (_p, ctx) => {
        ran.push(ctx.taskId);
      });
      await courier.start({ concurrency: 2, pollInterval: 3600 });
      await waitFor(() => courier.health().ok, 5000, 'a healthy worker');
      expect(courier.health().listening).toBe(true);
      expect((await courier.doctor()).find((c) => c.name === 'listen')?.detail).toMatch(/listenConnectionString/);
      const id = await courier.enqueueTask('plain', {});
      await waitFor(() => ran.includes(id), 5000, 'a NOTIFY-woken run (the poll interval is an hour)');
    } finally {
      await courier.close({ grace: 5 });
    }
  });

  it('detects named statements mixed up by the pooler and turns them off', async () => {
    // One server connection: a statement prepared by one client "already exists" for the next.
    const narrow = await startPgbouncer(databaseUrl(), { poolSize: 1 });
    const courier = createCourier({ connectionString: narrow.url, schema: freshSchema('pgb') });
    try {
      await courier.migrate();
      courier.registerTask('plain', async () => {});
      const ids = await Promise.all(Array.from({ length: 8 }, () => courier.enqueueTask('plain', {})));
      expect(new Set(ids).size).toBe(8);
      expect((await courier.doctor()).find((c) => c.name === 'prepared statements')?.detail).toMatch(/detected/);
      expect(await courier.drain({ concurrency: 2 })).toBe(8);
    } finally {
      await courier.close({ grace: 5 });
      await narrow.stop();
    }
  });

  /** 20,000 tasks drained by two worker processes on `engineUrl`; the audit of their fates, and the seconds it took. */
  async function drain(engineUrl: string, args: string[]): Promise<{ seconds: number; audit: Awaited<ReturnType<typeof auditFates>>; logs: string; crashed: string[] }> {
    const pool = testPool();
    const scenario = await newScenario({ server: undefined as never, url: databaseUrl(), pool, close: async () => {} }, 'pgb');
    const fleet = new Fleet({ engineUrl, auditUrl: databaseUrl(), schema: scenario.schema, args: ['--concurrency', '20', '--poll-interval', '0.2', ...args] });
    try {
      const enqueuer = createCourier({ connectionString: engineUrl, schema: scenario.schema, preparedStatements: false });
      enqueuer.registerTask('audited', () => {});
      expect(await enqueueBulk(enqueuer, 20_000)).toHaveLength(20_000);
      await enqueuer.close();
      const started = Date.now();
      await fleet.start(2);
      await waitFor(async () => Number((await pool.query(`SELECT count(*) AS n FROM "${scenario.schema}".tasks WHERE status = 'succeeded' AND ${OWN_TASKS}`)).rows[0].n) === 20_000, 240_000, 'the drain');
      const seconds = (Date.now() - started) / 1000;
      return { seconds, audit: await auditFates(pool, scenario.schema, { rerun: 'none', pollInterval: 0.2 }), logs: fleet.logs(), crashed: fleet.crashed() };
    } finally {
      await fleet.destroy();
      await scenario.close();
      await pool.end();
    }
  }

  it('drains 20,000 tasks with two worker processes through the pooler, each exactly once', { timeout: 600_000 }, async () => {
    const pooled = await drain(bouncer.url, ['--prepared-statements', 'false']);
    expect(pooled.crashed).toEqual([]);
    expect(pooled.audit.violations).toEqual([]);
    expect(pooled.audit).toMatchObject({ tasks: 20_000, runs: 20_000, rerunTasks: 0, dupes: 0 });
    expect(pooled.logs).toMatch(/poll-only/);
    // The same drain straight to Postgres, for the ratio (same machine, same moment).
    const straight = await drain(databaseUrl(), []);
    expect(straight.audit.violations).toEqual([]);
    report('pgbouncer transaction-mode drain', {
      workers: 2,
      pooledSeconds: pooled.seconds,
      directSeconds: straight.seconds,
      pooledTasksPerSecond: Math.round(20_000 / pooled.seconds),
      directTasksPerSecond: Math.round(20_000 / straight.seconds),
      pooledOverDirect: Math.round((straight.seconds / pooled.seconds) * 100) / 100,
      ...pooled.audit,
    });
  });
});
