import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { serveWeb } from '../peers/http.js';
import { type ResendPeer, startResendPeer } from '../peers/resend.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { fastRetries, messagingCourier } from './helpers.js';

let twilio: TwilioPeer;
let resend: ResendPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;

beforeAll(async () => {
  twilio = await startTwilioPeer();
  resend = await startResendPeer();
  web = await serveWeb({ '/twilio': (r) => courier.messages.webhooks.twilio(r) });
  courier = await messagingCourier({
    twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url, statusCallback: `${web.url}/twilio`, timeout: 5 },
    resend: { apiKey: resend.apiKey, from: 'news@acme.test', baseUrl: resend.url, timeout: 5 },
    rateLimits: { sms: '100/s', email: '100/s' },
    sendTask: fastRetries,
  });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await twilio.close();
  await resend.close();
  await web.close();
});

/** Counts statements sent to Postgres through the courier's pool while `fn` runs. */
async function countRoundTrips<T>(fn: () => Promise<T>): Promise<{ result: T; trips: number }> {
  const pool = courier.pool as any;
  let trips = 0;
  const query = pool.query;
  const connect = pool.connect;
  pool.query = function (...args: unknown[]) {
    trips++;
    return query.apply(this, args);
  };
  pool.connect = async function (...args: unknown[]) {
    // pool.query() connects with a callback; that statement is already counted.
    if (typeof args[0] === 'function') return connect.apply(this, args);
    const client = await connect.apply(this, args);
    const q = client.query;
    client.query = function (...a: unknown[]) {
      trips++;
      return q.apply(this, a);
    };
    const release = client.release;
    client.release = function (...a: unknown[]) {
      client.query = q;
      client.release = release;
      return release.apply(this, a);
    };
    return client;
  };
  try {
    return { result: await fn(), trips };
  } finally {
    pool.query = query;
    pool.connect = connect;
  }
}

describe('bulk batches', () => {
  it('10,000 recipients become a batch, 10,000 messages and 10,000 tasks in one round trip', async () => {
    const recipients = Array.from({ length: 10_000 }, (_, i) => ({ to: `+1777${String(i).padStart(7, '0')}`, variables: { name: `user ${i}` } }));
    const started = Date.now();
    const { result: batchId, trips } = await countRoundTrips(() => courier.messages.sendBulk({ channel: 'sms', recipients, template: 'Hi {{name}}, your order shipped', name: 'ten-k' }));
    const elapsed = Date.now() - started;
    expect(trips).toBe(1);
    expect(elapsed).toBeLessThan(20_000);
    const p = await courier.messages.getBatch(batchId);
    expect(p).toMatchObject({ total: 10_000, completed: 0, failed: 0, active: 10_000, progress: 0, name: 'ten-k', channel: 'sms' });
    const { rows } = await courier.pool.query(
      `SELECT (SELECT count(*)::int FROM "${courier.schema}".messages WHERE batch_id = $1) AS messages,
              (SELECT count(*)::int FROM "${courier.schema}".tasks t JOIN "${courier.schema}".messages m ON m.task_id = t.id WHERE m.batch_id = $1 AND t.name = 'messages.send' AND t.payload->>'messageId' = m.id::text) AS tasks,
              (SELECT count(DISTINCT recipient)::int FROM "${courier.schema}".messages WHERE batch_id = $1) AS recipients`,
      [batchId],
    );
    expect(rows[0]).toEqual({ messages: 10_000, tasks: 10_000, recipients: 10_000 });
    // Leave the rest of the suite a quiet queue.
    await courier.pool.query(`DELETE FROM "${courier.schema}".tasks WHERE id IN (SELECT task_id FROM "${courier.schema}".messages WHERE batch_id = $1)`, [batchId]);
    await courier.pool.query(`DELETE FROM "${courier.schema}".message_batches WHERE id = $1`, [batchId]);
  });

  it('progress counts always sum to total while a batch runs; done() resolves when it finishes', async () => {
    const recipients = Array.from({ length: 150 }, (_, i) => ({ to: `+1888${String(i).padStart(7, '0')}`, variables: { n: i } }));
    twilio.invalid.add('+18880000007');
    twilio.invalid.add('+18880000042');
    await courier.messages.suppress('sms', '+18880000099', 'opted out earlier');
    twilio.script({ match: (c) => c.to === '+18880000010', action: { status: 429, headers: { 'retry-after': '1' }, body: { code: 20429, message: 'Too Many Requests', status: 429 } } });
    const batchId = await courier.messages.sendBulk({ channel: 'sms', recipients, template: 'Code {{n}}' });
    const seen: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const p = await courier.messages.getBatch(batchId);
        if (p) {
          expect(p.completed + p.failed + p.active).toBe(p.total);
          expect(p.total).toBe(150);
          seen.push(p.progress);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await courier.start({ pollInterval: 0.1, concurrency: 8 });
    const final = await courier.messages.batch(batchId).done({ timeout: 60, interval: 0.1 });
    sampling = false;
    await sampler;
    await courier.stop({ grace: 1 });
    expect(final).toMatchObject({ total: 150, active: 0, failed: 3, completed: 147, progress: 100 });
    expect(final.byStatus.failed).toBe(3);
    expect(seen.length).toBeGreaterThan(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] as number);
    expect(twilio.creates.filter((c) => c.to === '+18880000099')).toHaveLength(0);
    const bodies = new Set(twilio.creates.filter((c) => c.to.startsWith('+1888')).map((c) => c.form.get('Body')));
    expect(bodies.has('Code 149')).toBe(true);
    const list = await courier.messages.listBatches();
    expect(list[0]?.id).toBe(batchId);
  });

  it('email bulk: per-recipient variables over shared ones, HTML-escaped', async () => {
    const batchId = await courier.messages.sendBulk({
      channel: 'email',
      recipients: [{ to: 'a@example.test', variables: { name: '<Ana>' } }, 'b@example.test'],
      template: { subject: 'Hello {{name}}', html: '<h1>{{name}}</h1><p>{{promo}}</p>', text: '{{name}}: {{promo}}' },
      variables: { name: 'friend', promo: '10% & more' },
      provider: 'resend',
    });
    await courier.start({ pollInterval: 0.1 });
    const done = await courier.messages.batch(batchId).done({ timeout: 30, interval: 0.1 });
    await courier.stop({ grace: 1 });
    expect(done).toMatchObject({ total: 2, completed: 2 });
    const a = resend.created.find((c) => c.body.to[0] === 'a@example.test')?.body;
    const b = resend.created.find((c) => c.body.to[0] === 'b@example.test')?.body;
    expect(a).toMatchObject({ subject: 'Hello <Ana>', html: '<h1>&#60;Ana&#62;</h1><p>10% &#38; more</p>', text: '<Ana>: 10% & more' });
    expect(b).toMatchObject({ subject: 'Hello friend', html: '<h1>friend</h1><p>10% &#38; more</p>' });
  });

  it('rejects an invalid recipient naming its index, writing nothing', async () => {
    const before = (await courier.messages.listBatches()).length;
    await expect(courier.messages.sendBulk({ channel: 'sms', recipients: ['+15551234567', 'not-a-number'], template: 'x' })).rejects.toThrow(/"recipients.1" must be an E.164 phone number/);
    expect((await courier.messages.listBatches()).length).toBe(before);
  });
});
