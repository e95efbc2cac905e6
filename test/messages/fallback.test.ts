// Cross-channel fallback: a message that fails for good is followed by a linked
// message on another channel (WhatsApp not reachable → SMS).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import type { MetaPeer, } from '../peers/meta.js';
import { startResendPeer } from '../peers/resend.js';
import { startSmtpPeer } from '../peers/smtp.js';
import type { TwilioPeer } from '../peers/twilio.js';
import { fastRetries, messagingCourier, waitForStatus, whatsAppAndSmsCourier } from './helpers.js';

let meta: MetaPeer;
let twilio: TwilioPeer;
let courier: MessagingCourier;
let close: () => Promise<void>;
let n = 0;
const number = () => `+1777${String(1_000_000 + ++n).slice(1)}`;

beforeAll(async () => {
  ({ meta, twilio, courier, close } = await whatsAppAndSmsCourier({ windowFromInbound: true }));
});
afterAll(() => close());

const linked = async (parent: string) =>
  waitFor(async () => {
    const { rows } = await courier.pool.query<{ id: string; channel: string; relation: string }>(`SELECT id, channel, relation FROM "${courier.schema}".messages WHERE parent_id = $1`, [parent]);
    return rows[0];
  });

describe('cross-channel fallback', () => {
  it('WhatsApp reported undeliverable (131026 by webhook) falls back to SMS as a linked message', async () => {
    const to = number();
    meta.lifecycle = (s) => (s.to === to.slice(1) ? [{ status: 'failed', delay: 20, errorCode: 131026 }] : [{ status: 'read', delay: 20 }]);
    const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'Your order shipped', fallback: { channel: 'sms', body: 'Your order shipped (SMS)' } });
    await waitForStatus(courier, id, ['failed']);
    const fb = await linked(id);
    expect(fb).toMatchObject({ channel: 'sms', relation: 'channel_fallback' });
    const m = await waitForStatus(courier, fb.id, ['delivered']);
    expect(m).toMatchObject({ to, parentId: id, relation: 'channel_fallback', provider: 'twilio' });
    expect(twilio.creates.find((c) => c.to === to)?.form.get('Body')).toBe('Your order shipped (SMS)');
  });

  it('a recipient already suppressed on WhatsApp gets the SMS without a WhatsApp request', async () => {
    const to = number();
    await courier.messages.suppress('whatsapp', to, 'not on WhatsApp');
    const id = await courier.messages.send({ channel: 'whatsapp', to, template: { name: 'order_shipped', language: 'en_US' }, variables: { 1: 'Ana', 2: '#7' }, fallback: { channel: 'sms', template: 'Hi {{name}}', variables: { name: 'Ana' } } });
    expect((await waitForStatus(courier, id, ['failed'])).error?.code).toBe('suppressed');
    const fb = await linked(id);
    await waitForStatus(courier, fb.id, ['delivered']);
    expect(twilio.creates.find((c) => c.to === to)?.form.get('Body')).toBe('Hi Ana');
    expect(meta.sends.filter((s) => s.to === to.slice(1))).toHaveLength(0);
  });

  it('a delivered message never falls back; the fallback is validated at send()', async () => {
    const to = number();
    meta.lifecycle = () => [{ status: 'read', delay: 20 }];
    const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'hi', fallback: { channel: 'sms', body: 'hi' } });
    await waitForStatus(courier, id, ['read']);
    await waitFor(async () => meta.settled(), 5000, 'webhooks settled');
    const { rows } = await courier.pool.query(`SELECT 1 FROM "${courier.schema}".messages WHERE parent_id = $1`, [id]);
    expect(rows).toHaveLength(0);
    await expect(courier.messages.send({ channel: 'whatsapp', to, body: 'x', fallback: { channel: 'email', body: 'x' } })).rejects.toThrow(/fallback\.to/);
    await expect(courier.messages.send({ channel: 'whatsapp', to, body: 'x', fallback: { channel: 'whatsapp', body: 'x' } })).rejects.toThrow(ValidationError);
    await expect(courier.messages.send({ channel: 'whatsapp', to, body: 'x', fallback: { channel: 'sms', template: { name: 'order_shipped' } } })).rejects.toThrow(/Content template/);
  });
});

describe('the 24-hour WhatsApp window from inbound messages', () => {
  it('no message from the customer in a day: the template goes at once; after they write, the session message does', async () => {
    const to = number();
    meta.lifecycle = () => [{ status: 'read', delay: 20 }];
    const input = { channel: 'whatsapp', to, body: 'Your table is ready', fallback: { template: { name: 'order_shipped', language: 'en_US' }, variables: { 1: 'Ana', 2: '#9' } } } as const;
    const closed = await courier.messages.send(input);
    await waitForStatus(courier, closed, ['read', 'sent', 'delivered', 'failed']);
    expect(meta.sends.filter((s) => s.to === to.slice(1)).map((s) => s.body.type)).toEqual(['template']);
    expect(await meta.postInbound(to.slice(1), 'Is my table ready?')).toBe(200);
    const open = await courier.messages.send(input);
    await waitForStatus(courier, open, ['read', 'sent', 'delivered', 'failed']);
    expect(meta.sends.filter((s) => s.to === to.slice(1)).map((s) => s.body.type)).toEqual(['template', 'text']);
  });
});

describe('provider failover', () => {
  it('while SMTP refuses our credentials (paused), email fails over to Resend as a linked message, queryable both ways', async () => {
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
      const first = await c.messages.send({ channel: 'email', to: 'ana@example.test', subject: 'Hi', body: 'one', cc: ['copy@example.test'] });
      // The SMTP attempt stays on the original; Resend's request is a new message with its own ledger.
      const original = await waitForStatus(c, first, ['failed'], 15_000);
      expect(original).toMatchObject({ provider: 'smtp', error: { code: 'failover' } });
      expect((await c.messages.attempts(first)).map((a) => [a.provider, a.outcome])).toEqual([['smtp', 'config']]);
      expect(original.followUps).toHaveLength(1);
      const [link] = original.followUps;
      expect(link).toMatchObject({ relation: 'failover' });
      const m = await waitForStatus(c, link?.id as string, ['sent', 'failed'], 15_000);
      expect(m).toMatchObject({ status: 'sent', provider: 'resend', parentId: first, relation: 'failover', to: 'ana@example.test', subject: 'Hi' });
      expect((await c.messages.attempts(m.id)).map((a) => [a.provider, a.outcome])).toEqual([['resend', 'ok']]);
      // The follow-up carries the email options too.
      expect(resend.created.find((e) => JSON.stringify(e.body.to).includes('ana@example.test'))?.body.cc).toEqual(['copy@example.test']);
      // While SMTP stays paused, later emails go straight to Resend.
      const second = await c.messages.send({ channel: 'email', to: 'bo@example.test', subject: 'Hi', body: 'two' });
      expect(await waitForStatus(c, second, ['sent', 'failed'], 15_000)).toMatchObject({ status: 'sent', provider: 'resend' });
      expect((await c.messages.attempts(second)).map((a) => a.provider)).toEqual(['resend']);
      expect(smtp.received).toHaveLength(0);
    } finally {
      await c.close({ grace: 1 });
      await Promise.all([smtp.close(), resend.close()]);
    }
  });
});
