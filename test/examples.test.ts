import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseUrl, freshSchema } from './helpers/db.js';

const root = join(import.meta.dirname, '..');
const env = () => ({ ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: freshSchema('ex') });

/** The README's command for an example: `node --import tsx examples/run.ts <name>`. */
function runExample(name: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'examples', 'run.ts'), name], { cwd: root, env: env(), encoding: 'utf8', timeout: 120_000 });
}

describe('examples run as the README says', () => {
  for (const [name, expected] of [
    ['transactional-enqueue', /ran 1 task\(s\); succeeded 1, queued 0/],
    ['order-receipt-trigger', /ran 1 task\(s\); receipts sent for orders \[1\]; tasks in the table: 1/],
    ['cron-report', /reports built: \d+/],
    ['cli-worker/run', /worker exited with 0/],
    ['report-workflow', /summary email sent to ops@acme\.test: 3 of 4 client reports/],
  ] as const) {
    it(name, () => {
      const r = runExample(name);
      expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('{')).join('\n')).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(expected);
    }, 120_000);
  }

  it('express-server: serves, runs the enqueued task, drains on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples', 'run.ts'), 'express-server'], { cwd: root, env: env() });
    let out = '';
    child.stdout.on('data', (c: Buffer) => void (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearInterval(t);
          resolve(m[1] as string);
        }
      }, 50);
      void exited.then(() => reject(new Error(`exited early: ${out}`)));
    });
    const created = await fetch(`${url}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ada@example.com' }) });
    expect(created.status).toBe(202);
    const { taskId } = (await created.json()) as { taskId: string };
    let task: { status?: string; result?: unknown } = {};
    for (let i = 0; i < 100 && task.status !== 'succeeded'; i++) {
      task = (await (await fetch(`${url}/tasks/${taskId}`)).json()) as typeof task;
      if (task.status !== 'succeeded') await new Promise((r) => setTimeout(r, 50));
    }
    expect(task).toMatchObject({ status: 'succeeded', result: { sentTo: 'ada@example.com' } });
    const bad = await fetch(`${url}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(bad.status).toBe(400);
    expect((await (await fetch(`${url}/healthz`)).json()) as object).toMatchObject({ ok: true });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('stopped cleanly');
  }, 120_000);
});
