// Each HTTP example runs as its header says (node --import tsx examples/run.ts <name>),
// serves the dashboard and the API with the token, and stops cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';
import { TOKEN } from './helpers.js';

const root = join(import.meta.dirname, '../..');

describe('HTTP examples run as documented', () => {
  for (const [name, task, payload] of [
    ['http-node', 'resize_image', { url: 'a.png' }],
    ['http-express', 'send_report', { to: 'ops@example.test' }],
    ['http-fastify', 'send_report', { to: 'ops@example.test' }],
    ['http-fetch', 'send_report', { to: 'ops@example.test' }],
  ] as const) {
    it(name, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples', 'run.ts'), name], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: freshSchema('exh'), COURIER_TOKEN: TOKEN },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => void (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => void (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        const dashboard = await waitFor(() => /dashboard: (http:\/\/\S+\/courier\/)/.exec(out)?.[1], 90_000, `${name} to listen (${out})`);
        const page = await fetch(dashboard);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('<title>pgcourier</title>');
        const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
        const created = await fetch(`${dashboard}tasks`, { method: 'POST', headers: auth, body: JSON.stringify({ name: task, payload }) });
        expect(created.status).toBe(201);
        const { id } = (await created.json()) as { id: string };
        const done = await waitFor(
          async () => {
            const t = (await (await fetch(`${dashboard}tasks/${id}`, { headers: auth })).json()) as { status: string; result: unknown };
            return t.status === 'succeeded' ? t : null;
          },
          30_000,
          'the task to succeed',
        );
        expect(done.result).toBeTruthy();
        expect((await fetch(`${dashboard}tasks/${id}`)).status).toBe(401);
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }, 150_000);
  }
});
