// Follow-ups inside bulk batches: channel fallbacks (sendBulk's `fallback`), provider
// failovers, delivery retries and resends join the batch and stand for their
// recipient, so each recipient counts once and done() waits for the last of its chain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { BatchProgress, MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import type { MetaPeer, } from '../peers/meta.js';
import { startResendPeer } from '../peers/resend.js';
import { startSmtpPeer } from '../peers/smtp.js';
import type { TwilioPeer } from '../peers/twilio.js';
import { fastRetries, messagingCourier, whatsAppAndSmsCourier } from './helpers.js';

let meta: MetaPeer;
let twilio: TwilioPeer;
let courier: MessagingCourier;
let close: () => Promise<void>;
let n = 0;
const number = () => `+1888${String(1_000_000 + ++n).slice(1)}`;

beforeAll(async () => {
  ({ meta, twilio, courier, close } = await whatsAppAndSmsCourier({ deliveryRetries: { max: 2, delay: 0.2 } }));
});
afterAll(() => close());

/**
 * Waits for done(), then (delivery reports arrive after `sent`, and a failure
 * reported then starts its follow-up, reopening the batch) for `settled`, checking
 * every progress read on the way: one count per recipient, summing to the total.
 */
async function settleChecked(c: MessagingCourier, batchId: string, recipients: number, settled: (p: BatchProgress) => boolean = () => true): Promise<BatchProgress> {
  const handle = c.messages.batch(batchId);
  let finished = false;
  const watcher = (async () => {
    while (!finished) {
      const p = await handle.get();
      expect(p?.total).toBe(recipients);
      expect((p?.completed ?? 0) + (p?.failed ?? 0) + (p?.active ?? 0)).toBe(recipients);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    await handle.done({ timeout: 30, interval: 0.05 });
    return await waitFor(
      async () => {
        const p = await handle.done({ timeout: 30, interval: 0.05 });
        return settled(p) ? p : null;
      },
      30_000,
      `batch ${batchId} to settle`,
    );
  } finally {
    finished = true;
    await watcher;
  }
}

const rowsOf = async (c: MessagingCourier, batchId: string) =>
  (
    await c.pool.query<{ id: string; channel: string; recipient: string; status: string; parent_id: string | null; relation: string | null; error_code: string | null }>(
      `SELECT id, channel, recipient, status, parent_id, relation, error_code FROM "${c.schema}".messages WHERE batch_id = $1 ORDER BY created_at, recipient`,
      [batchId],
    )
  ).rows;

describe('sendBulk fallback', () => {
  it('WhatsApp → SMS per recipient: the fallbacks join the batch and each recipient counts once, as the last message of its chain', async () => {
    const [ok, undeliverable, notOnWhatsApp, elsewhere, smsNumber, blocked] = [number(), number(), number(), number(), number(), number()];
    await courier.messages.suppress('whatsapp', notOnWhatsApp, 'not on WhatsApp');
    await courier.messages.suppress('whatsapp', blocked, 'not on WhatsApp');
    await courier.messages.suppress('sms', blocked, 'replied STOP');
    meta.lifecycle = (s) => ([undeliverable, elsewhere].some((x) => x.slice(1) === s.to) ? [{ status: 'failed', delay: 20, errorCode: 131026 }] : [{ status: 'read', delay: 20 }]);
    const batchId = await courier.messages.sendBulk({
      channel: 'whatsapp',
      template: 'Hi {{name}}, your order shipped',
      variables: { code: 'none' },
      recipients: [
        { to: ok, variables: { name: 'Ana' } },
        { to: undeliverable, variables: { name: 'Ben' } },
        { to: notOnWhatsApp, variables: { name: 'Cy' } },
        { to: elsewhere, variables: { name: 'Di' }, fallbackTo: smsNumber },
        { to: blocked, variables: { name: 'Ed' } },
      ],
      fallback: { channel: 'sms', template: 'SMS for {{name}}: shipped, code {{code}}', variables: { code: 'K7' } },
    });
    const final = await settleChecked(courier, batchId, 5, (p) => p.byStatus.delivered === 3 && p.byStatus.read === 1);
    expect(final).toMatchObject({ total: 5, completed: 4, failed: 1, active: 0 });
    expect(final.byStatus).toMatchObject({ read: 1, delivered: 3, failed: 1, undelivered: 0 });

    const rows = await rowsOf(courier, batchId);
    const fallbacks = rows.filter((r) => r.relation === 'channel_fallback');
    expect(fallbacks.map((r) => r.recipient).sort()).toEqual([undeliverable, notOnWhatsApp, smsNumber, blocked].sort());
    expect(fallbacks.every((r) => r.channel === 'sms')).toBe(true);
    // The fallback is rendered with the batch's, the recipient's and its own variables.
    const body = (to: string) => twilio.creates.find((c) => c.to === to)?.form.get('Body');
    expect(body(undeliverable)).toBe('SMS for Ben: shipped, code K7');
    expect(body(smsNumber)).toBe('SMS for Di: shipped, code K7');
    expect(body(ok)).toBeUndefined();
    expect(twilio.creates.some((c) => c.to === blocked)).toBe(false);
    // Linked both ways in the status API.
    const original = rows.find((r) => r.recipient === undeliverable && r.parent_id === null);
    const info = await courier.messages.get(original?.id as string);
    expect(info).toMatchObject({ status: 'failed', batchId });
    const link = fallbacks.find((r) => r.recipient === undeliverable);
    expect(info?.followUps).toEqual([{ id: link?.id, relation: 'channel_fallback' }]);
    expect(await courier.messages.get(link?.id as string)).toMatchObject({ parentId: original?.id, relation: 'channel_fallback', batchId, status: 'delivered' });
    // The recipient suppressed on both channels is the one failure: its fallback, failed `suppressed`.
    expect(fallbacks.find((r) => r.recipient === blocked)).toMatchObject({ status: 'failed', error_code: 'suppressed' });
  });

  it('is validated like send(): fallback.to is per recipient, fallbackTo needs a fallback and a valid address; nothing is written', async () => {
    const count = async () => Number((await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".message_batches`)).rows[0].n);
    const before = await count();
    const bulk = (extra: object, recipients: unknown[] = [number()]) => courier.messages.sendBulk({ channel: 'whatsapp', template: 'Hi', recipients, ...extra } as never);
    await expect(bulk({ fallback: { channel: 'sms', to: number(), body: 'x' } })).rejects.toThrow(/"fallback\.to" is per recipient/);
    await expect(bulk({}, [number(), { to: number(), fallbackTo: number() }])).rejects.toThrow(/"recipients\.1\.fallbackTo" needs the batch's fallback/);
    await expect(bulk({ fallback: { channel: 'sms', body: 'x' } }, [number(), { to: number(), fallbackTo: 'not-a-number' }])).rejects.toThrow(/"recipients\.1\.fallbackTo" must be an E\.164/);
    await expect(bulk({ fallback: { channel: 'email', body: 'x' } })).rejects.toThrow(/"recipients\.0" must be an email address/);
    await expect(bulk({ fallback: { channel: 'whatsapp', body: 'x' } })).rejects.toThrow(ValidationError);
    await expect(bulk({ fallback: { channel: 'sms', provider: 'nope', body: 'x' } })).rejects.toThrow(/fallback\.provider/);
    expect(await count()).toBe(before);
  });
});

describe('delivery retries and resends in a batch', () => {
  it('a 30003 delivery retry joins the batch: the recipient counts once, as delivered', async () => {
    const [flaky, steady] = [number(), number()];
    let first = true;
    twilio.lifecycle = (c) => {
      if (c.to === flaky && first) {
        first = false;
        return [{ status: 'undelivered', delay: 10, errorCode: 30003 }];
      }
      return [{ status: 'delivered', delay: 20 }];
    };
    try {
      const batchId = await courier.messages.sendBulk({ channel: 'sms', template: 'Hi', recipients: [flaky, steady] });
      const final = await settleChecked(courier, batchId, 2, (p) => p.byStatus.delivered === 2);
      expect(final).toMatchObject({ total: 2, completed: 2, failed: 0 });
      expect(final.byStatus).toMatchObject({ delivered: 2, undelivered: 0 });
      const rows = await rowsOf(courier, batchId);
      expect(rows.filter((r) => r.recipient === flaky).map((r) => [r.relation, r.status])).toEqual([
        [null, 'undelivered'],
        ['webhook_retry', 'delivered'],
      ]);
    } finally {
      twilio.lifecycle = () => [{ status: 'delivered', delay: 20 }];
    }
  });

  it('resend() of a failed batch message joins the batch and reopens it until the resend finishes', async () => {
    const to = number();
    await courier.messages.suppress('sms', to, 'temporarily');
    const batchId = await courier.messages.sendBulk({ channel: 'sms', template: 'Hi', recipients: [to] });
    expect(await courier.messages.batch(batchId).done({ timeout: 10 })).toMatchObject({ total: 1, failed: 1 });
    const [failed] = await rowsOf(courier, batchId);
    await courier.messages.unsuppress('sms', to);
    const again = await courier.messages.resend(failed?.id as string);
    expect((await courier.messages.getBatch(batchId))?.total).toBe(1);
    const final = await settleChecked(courier, batchId, 1);
    expect(final).toMatchObject({ total: 1, completed: 1, failed: 0 });
    expect(await courier.messages.get(again)).toMatchObject({ batchId, parentId: failed?.id, relation: 'resend' });
  });
});

describe('provider failover in a batch', () => {
  it('email failed over from a paused SMTP to Resend counts once per recipient, and every original links to its failover', async () => {
    const smtp = await startSmtpPeer({ users: { courier: 'right-password' } });
    const resend = await startResendPeer();
    const c = await messagingCourier({
      smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'wrong-password' }, from: 'Acme <noreply@acme.test>', tls: { ca: smtp.cert.cert }, timeout: 5 },
      resend: { apiKey: resend.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: resend.url, timeout: 5 },
      failover: { email: ['smtp', 'resend'] },
      gates: { failoverAfter: 5 },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    try {
      await c.start({ pollInterval: 0.05, concurrency: 2 });
      const recipients = ['a@example.test', 'b@example.test', 'c@example.test', 'd@example.test'];
      const batchId = await c.messages.sendBulk({ channel: 'email', subject: 'Hi {{name}}', template: 'Hello {{name}}', variables: { name: 'you' }, recipients });
      const final = await settleChecked(c, batchId, 4);
      expect(final).toMatchObject({ total: 4, completed: 4, failed: 0 });
      const rows = await rowsOf(c, batchId);
      const failedOver = rows.filter((r) => r.error_code === 'failover');
      expect(failedOver.length).toBeGreaterThanOrEqual(1);
      for (const o of failedOver) {
        const info = await c.messages.get(o.id);
        expect(info?.followUps.map((f) => f.relation)).toEqual(['failover']);
        expect(await c.messages.get(info?.followUps[0]?.id as string)).toMatchObject({ provider: 'resend', status: 'sent', parentId: o.id, batchId });
      }
      // Every recipient got exactly one email, through Resend, with the batch's content.
      expect(resend.created.map((e) => JSON.stringify(e.body.to)).sort()).toEqual(recipients.map((r) => JSON.stringify([r])).sort());
      expect(resend.created.map((e) => e.body.subject)).toEqual(['Hi you', 'Hi you', 'Hi you', 'Hi you']);
      expect(smtp.received).toHaveLength(0);
    } finally {
      await c.close({ grace: 1 });
      await Promise.all([smtp.close(), resend.close()]);
    }
  });

  it('two providers both refusing our credentials pass a message on at most once per listed provider; the last one fails as deferred', async () => {
    const smtp = await startSmtpPeer({ users: { courier: 'right-password' } });
    const resend = await startResendPeer();
    const c = await messagingCourier({
      smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'wrong-password' }, from: 'Acme <noreply@acme.test>', tls: { ca: smtp.cert.cert }, timeout: 5 },
      resend: { apiKey: 're_wrong_key_0123456789', from: 'Acme <noreply@acme.test>', baseUrl: resend.url, timeout: 5 },
      failover: { email: ['smtp', 'resend'] },
      gates: { failoverAfter: 0, configPause: 1, maxDeferral: 8 },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    try {
      await c.start({ pollInterval: 0.05, concurrency: 2 });
      const batchId = await c.messages.sendBulk({ channel: 'email', subject: 'Hi', template: 'Hello', recipients: ['ana@example.test'] });
      const final = await c.messages.batch(batchId).done({ timeout: 40, interval: 0.1 });
      expect(final).toMatchObject({ total: 1, failed: 1, active: 0 });
      const rows = await rowsOf(c, batchId);
      // The original and one failover per listed provider: smtp → resend → smtp, then no further.
      expect(rows.map((r) => r.relation)).toEqual([null, 'failover', 'failover']);
      expect(rows.map((r) => r.error_code)).toEqual(['failover', 'failover', 'deferred']);
      expect(rows.every((r) => r.status === 'failed')).toBe(true);
    } finally {
      await c.close({ grace: 1 });
      await Promise.all([smtp.close(), resend.close()]);
    }
  }, 60_000);
});
