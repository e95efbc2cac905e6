import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { databaseUrl } from '../helpers/db.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { messagingCourier } from './helpers.js';

const root = join(import.meta.dirname, '..', '..');
const COUNT = 60;

interface Worker {
  child: ChildProcess;
  log(): string;
  exited: Promise<unknown>;
}

let peer: TwilioPeer;
let courier: MessagingCourier;
const workers: Worker[] = [];

async function spawnWorker(): Promise<Worker> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src', 'cli.ts'), 'worker', '--tasks', join(root, 'test', 'messages', 'fixtures', 'sms-worker.ts'), '--concurrency', '5', '--poll-interval', '0.1', '--log-level', 'debug'],
    {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: courier.schema, TWILIO_ACCOUNT_SID: peer.accountSid, TWILIO_AUTH_TOKEN: peer.authToken, TWILIO_BASE_URL: peer.url },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('worker started')) resolve();
    });
    void exited.then(([code]) => reject(new Error(`worker exited (${code}) before starting:\n${stderr}`)));
  });
  return { child, log: () => stderr, exited };
}

beforeAll(async () => {
  peer = await startTwilioPeer();
  peer.lifecycle = () => [];
  // The enqueuing side: same settings, no processor.
  courier = await messagingCourier({ twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: '+15550001111', baseUrl: peer.url } });
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await courier.close({ grace: 0 });
  await peer.close();
});

describe('provider gate across worker processes', () => {
  it(`3 worker processes sending ${COUNT} SMS under the default 3/s limit: no 1-second window at the peer holds more than 3`, async () => {
    const recipients = Array.from({ length: COUNT }, (_, i) => `+1999${String(i).padStart(7, '0')}`);
    const batchId = await courier.messages.sendBulk({ channel: 'sms', recipients, template: 'Campaign message' });
    workers.push(...(await Promise.all([spawnWorker(), spawnWorker(), spawnWorker()])));
    const done = await courier.messages.batch(batchId).done({ timeout: 120, interval: 0.5 });
    expect(done).toMatchObject({ total: COUNT, completed: COUNT, failed: 0 });

    const arrivals = peer.creates.map((c) => c.request.at).sort((a, b) => a - b);
    expect(arrivals).toHaveLength(COUNT);
    let busiest = 0;
    for (let i = 0; i < arrivals.length; i++) {
      let n = 0;
      for (let j = i; j < arrivals.length && (arrivals[j] as number) < (arrivals[i] as number) + 1000; j++) n++;
      busiest = Math.max(busiest, n);
    }
    expect(busiest).toBeLessThanOrEqual(3);
    // The limit was the bottleneck: the sends span about COUNT / 3 seconds.
    expect((arrivals.at(-1) as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(((COUNT - 3) / 3) * 1000);
    // Every process sent some of them.
    for (const w of workers) expect(w.log().match(/"msg":"message sent"/g)?.length ?? 0).toBeGreaterThan(0);
    // Waiting for the gate used no retries.
    const { rows } = await courier.pool.query(`SELECT max(attempts - deferrals)::int AS counted FROM "${courier.schema}".tasks WHERE name = 'messages.send'`);
    expect(rows[0].counted).toBe(1);
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  }, 180_000);
});
