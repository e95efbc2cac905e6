import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/embedded.js';
import type { Courier } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { freshSchema, testCourier } from './helpers/db.js';

const root = join(import.meta.dirname, '..');
const shared = join(root, 'test', 'fixtures', 'shared-tasks.ts');
const tasks = join(root, 'test', 'fixtures', 'tasks.ts');
let courier: Courier;

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('later', () => 'ok');
});
afterAll(() => courier.close({ grace: 0 }));

/** Runs the real CLI entry point against this file's schema. */
const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(courier.schema, args, env);

describe('pgcourier CLI for a new user', () => {
  it('status and enqueue before migrate say to run pgcourier migrate', () => {
    for (const args of [['status'], ['enqueue', 'audit', '{}'], ['promote', '1']]) {
      const r = cli(args, { PGCOURIER_SCHEMA: freshSchema('cli_unmigrated') });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^pgcourier: pgcourier's tables do not exist in schema "cli_unmigrated_\w+": run .*pgcourier migrate/);
    }
  });

  it('enqueue validates against producer-only definitions (no handlers needed) and takes --delay', async () => {
    const bad = cli(['enqueue', 'signup_email', '{"email":"nope"}', '--tasks', shared]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"payload\.email"/);
    const unknown = cli(['enqueue', 'signup_mail', '{}', '--tasks', shared]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"signup_mail" is not registered/);
    const ok = cli(['enqueue', 'signup_email', '{"email":"ada@example.com"}', '--tasks', shared, '--delay', '3600']);
    expect(ok.code).toBe(0);
    const task = await courier.getTask(ok.stdout.trim());
    expect(task).toMatchObject({ name: 'signup_email', queue: 'email', priority: 3, status: 'queued', payload: { email: 'ada@example.com' } });
    expect(task?.runAt.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
  });

  it('help lists promote, delete, enqueue --delay and worker --wait-for-db', () => {
    const top = cli(['--help']);
    expect(top.stdout).toMatch(/promote <id>[\s\S]*delete <id>/);
    expect(cli(['worker', '--help']).stdout).toMatch(/--wait-for-db S .*default 60/);
  });

  it('promote and delete', async () => {
    const id = await courier.enqueueTask('later', {}, { delay: 3600 });
    const p = cli(['promote', id]);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`promoted task ${id}`);
    expect((await courier.getTask(id))?.runAt.getTime()).toBeLessThanOrEqual(Date.now());
    const refused = cli(['delete', id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/only finished or cancelled tasks can be deleted/);
    await courier.runTaskNow(id);
    const d = cli(['delete', id]);
    expect(d.code).toBe(0);
    expect(await courier.getTask(id)).toBeNull();
    const gone = cli(['delete', id]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/no task has id/);
    expect(cli(['promote']).stderr).toMatch(/promote takes one task id/);
  });

  it('worker waits for Postgres with --wait-for-db, logging each try, then gives up', async () => {
    const port = await freePort();
    const r = cli(['worker', '--tasks', tasks, '--wait-for-db', '1.2'], { DATABASE_URL: `postgres://u:hunter2secret@127.0.0.1:${port}/db` });
    expect(r.code).toBe(1);
    const tries = r.stderr.split('\n').filter((l) => l.includes('database not reachable yet'));
    expect(tries.length).toBe(2);
    expect(JSON.parse(tries[0] as string)).toMatchObject({ attempt: 1, retryIn: 0.5 });
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(r.stderr).not.toContain('hunter2secret');
    expect(cli(['worker', '--tasks', tasks, '--wait-for-db', 'long']).stderr).toMatch(/--wait-for-db must be a number/);
  });
});

