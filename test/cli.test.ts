import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Courier } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { testCourier } from './helpers/db.js';
import { createAuditTable } from './helpers/workers.js';

const root = join(import.meta.dirname, '..');
const tasks = join(root, 'test', 'fixtures', 'tasks.ts');
let courier: Courier;

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('audit', () => {});
  await createAuditTable(courier.pool, courier.schema);
});
afterAll(() => courier.close({ grace: 0 }));

/** Runs the real CLI entry point against this file's schema. */
const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(courier.schema, args, env);

describe('pgcourier CLI', () => {
  it('--help lists commands and each command has help', () => {
    const top = cli(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['migrate', 'worker', 'run-once', 'enqueue', 'status', 'workers', 'cleanup', 'schedules', 'doctor', 'demo']) {
      expect(top.stdout).toContain(c);
      const one = cli([c, '--help']);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain(`pgcourier ${c}`);
    }
  });

  it('migrate is idempotent', () => {
    const r = cli(['migrate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('schema is up to date');
  });

  it('enqueue, status, run-once and status again', async () => {
    const e = cli(['enqueue', 'audit', '{"n":1}', '--priority', '2', '--queue', 'cli']);
    expect(e.code).toBe(0);
    const id = e.stdout.trim();
    expect(await courier.getTask(id)).toMatchObject({ name: 'audit', priority: 2, queue: 'cli', payload: { n: 1 }, status: 'queued' });
    const s = cli(['status', '--json']);
    expect(JSON.parse(s.stdout).queues.cli).toMatchObject({ queued: 1 });
    const r = cli(['run-once', '--tasks', tasks, '--limit', '5']);
    expect(r.stdout).toContain('ran 1 task');
    expect((await courier.getTask(id))?.status).toBe('succeeded');
    const table = cli(['status']);
    expect(table.stdout).toMatch(/cli\s+0\s+0\s+1/);
  });

  it('enqueue validates against the task module when given', () => {
    const r = cli(['enqueue', 'sleepy', '{"ms":"x"}', '--tasks', tasks]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/payload\.ms/);
  });

  it('workers, schedules and cleanup', async () => {
    await courier.schedule('cli-sched', '0 3 * * *', 'audit');
    expect(cli(['schedules']).stdout).toContain('cli-sched');
    expect(cli(['schedules', 'pause', 'cli-sched']).code).toBe(0);
    expect((await courier.listSchedules()).find((s) => s.name === 'cli-sched')?.paused).toBe(true);
    expect(cli(['schedules', 'remove', 'cli-sched']).code).toBe(0);
    const missing = cli(['schedules', 'remove', 'cli-sched']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no schedule named');
    expect(JSON.parse(cli(['workers', '--json']).stdout)).toEqual([]);
    await courier.pool.query(`INSERT INTO "${courier.schema}".tasks (name, status, finished_at) VALUES ('audit', 'succeeded', now() - interval '3 days')`);
    expect(cli(['cleanup', '--older-than', '2d', '--status', 'succeeded']).stdout).toContain('deleted 1 finished task');
  });

  it('doctor reports each check; fails on an unmigrated schema', async () => {
    const ok = cli(['doctor', '--json']);
    expect(ok.code).toBe(0);
    const checks = JSON.parse(ok.stdout) as Array<{ name: string; level: string }>;
    expect(checks.map((c) => c.name)).toEqual(['schema', 'task table', 'vacuum horizon', 'notify queue', 'leases', 'listen']);
    expect(checks.find((c) => c.name === 'schema')?.level).toBe('ok');
    await courier.pool.query(`INSERT INTO "${courier.schema}".tasks (name, status, attempts, locked_until, lease_token) VALUES ('audit', 'running', 1, now() - interval '5 minutes', gen_random_uuid())`);
    expect(cli(['doctor']).stdout).toMatch(/leases\s+warn\s+1 running task/);
    const missing = cli(['doctor'], { PGCOURIER_SCHEMA: 'never_migrated' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/schema\s+fail/);
  });

  const bad: Array<[string[], RegExp, Record<string, string | undefined>?]> = [
    [['frobnicate'], /unknown command/],
    [['status', '--bogus'], /Unknown option '--bogus'/],
    [['enqueue'], /enqueue takes <task> <json>/],
    [['enqueue', 'audit', '{not json'], /not valid JSON/],
    [['enqueue', 'audit', '{}', '--priority', 'high'], /--priority must be a number/],
    [['enqueue', 'audit', '{}', '--priority', '11'], /priority/],
    [['enqueue', 'audit', '{}', '--run-at', 'soon'], /runAt/],
    [['cleanup', '--older-than', 'a week'], /--older-than must be/],
    [['cleanup', '--status', 'queued'], /statuses\.0/],
    [['worker', '--concurrency', '0', '--tasks', tasks], /concurrency/],
    [['worker'], /needs --tasks/],
    [['status', '--schema', 'Bad-Name'], /schema/],
    [['status'], /connectionString/, { DATABASE_URL: '' }],
  ];
  for (const [args, message, env] of bad) {
    it(`rejects \`${args.join(' ')}\` with exit 2 and a one-line error`, () => {
      const r = cli(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^pgcourier: /);
    });
  }

  it('never prints the database password in an error', () => {
    const r = cli(['status'], { DATABASE_URL: 'postgres://postgres:hunter2secret@127.0.0.1:1/postgres' });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('hunter2secret');
  });
});
