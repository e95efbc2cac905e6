import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshSchema } from '../helpers/db.js';
import { type FaultServer, startFaultServer, until } from './harness.js';

const root = join(import.meta.dirname, '..', '..');
let server: FaultServer;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await server?.close();
});

describe('a connection dies under a checked-out pool client', () => {
  // Regression (fixed in src/db/pool.ts watchPool): code that holds a
  // client from pool.connect() (migrate, claimCappedTasks, analyzeIfStale, inTransaction, and
  // Kysely for every query) has no 'error' listener on it. When the server ends the connection
  // (restart, pg_terminate_backend, failover), pg rejects the active query and then emits
  // 'error' on the client before it is released: an unhandled 'error' event kills the process.
  // The Postgres-restart scenario hits the same crash in worker processes (through analyzeIfStale).
  it('the process survives; the call fails with the connection error', async () => {
    const schema = freshSchema('crash');
    const lock = await server.pool.connect();
    try {
      // Hold migrate's advisory lock so its client waits inside a query we can terminate.
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [`pgcourier.migrate:${schema}`]);
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'fixtures', 'faults-migrate.ts')], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: server.url, PGCOURIER_SCHEMA: schema },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      const exited = once(child, 'exit');
      const [waiting] = await until(async () => {
        const { rows } = await server.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%' AND pid <> pg_backend_pid()`,
        );
        return rows.length ? rows : null;
      }, 60_000, 'migrate to wait on its lock');
      await server.pool.query('SELECT pg_terminate_backend($1)', [waiting?.pid]);
      const [code] = await exited;
      expect(out).toMatch(/migrate failed: terminating connection due to administrator command/);
      expect(out).not.toMatch(/Unhandled 'error' event/);
      expect(out).toMatch(/still alive/);
      expect(code).toBe(0);
    } finally {
      await lock.query('SELECT pg_advisory_unlock_all()').catch(() => {});
      lock.release();
    }
  }, 120_000);
});
