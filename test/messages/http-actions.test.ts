// Operator actions and DSN intake over pgcourier/http, served by a real node:http
// server: reconcile and resend an `unknown` message (Twilio peer), and a bounce
// pipe posting RFC 3464 reports (SMTP peer).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpHandler } from '../../src/http/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { listen } from '../http/helpers.js';
import { type SmtpPeer, startSmtpPeer } from '../peers/smtp.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { fastRetries, messagingCourier, waitForStatus } from './helpers.js';

const TOKEN = 'msg-actions-token-0123456789abcdef';
let courier: MessagingCourier;
let twilio: TwilioPeer;
let smtp: SmtpPeer;
let server: Awaited<ReturnType<typeof listen>>;
let base = '';
let n = 0;
const number = () => `+1666${String(1_000_000 + ++n).slice(1)}`;

const call = (method: string, path: string, init: { body?: string; type?: string; token?: string | null } = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: {
      ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? TOKEN}` }),
      ...(init.type ? { 'content-type': init.type } : {}),
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });

async function problem(res: Response, status: number, field?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { status: number; field?: string; detail: string };
  expect(body.status).toBe(status);
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

beforeAll(async () => {
  twilio = await startTwilioPeer();
  smtp = await startSmtpPeer({ users: { courier: 'pw' } });
  courier = await messagingCourier({
    twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url, timeout: 5 },
    smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'pw' }, from: 'Acme <noreply@acme.test>', tls: { ca: smtp.cert.cert }, timeout: 5 },
    rateLimits: { sms: '50/s', email: '50/s' },
    sendTask: fastRetries,
  });
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
  const api = createHttpHandler(courier, { basePath: '/courier', auth: { token: TOKEN } });
  server = await listen(api.node);
  base = `${server.url}/courier`;
});
afterAll(async () => {
  await server.close();
  await courier.close({ grace: 1 });
  await Promise.all([twilio.close(), smtp.close()]);
});

describe('POST /messages/{id}/reconcile and /resend', () => {
  it('reconciles an unknown message Twilio has; a second reconcile is 409; bad input is problem+json naming the field', async () => {
    const to = number();
    twilio.acceptThenDrop.add(to);
    const id = await courier.messages.send({ channel: 'sms', to, body: 'maybe sent' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent'])).status).toBe('unknown');
    await problem(await call('POST', `/messages/${id}/reconcile`, { token: null }), 401);
    await problem(await call('POST', `/messages/${id}/reconcile`, { body: '{"force":true}', type: 'application/json' }), 400, 'force');
    expect((await courier.messages.get(id))?.status).toBe('unknown');
    const res = await call('POST', `/messages/${id}/reconcile`);
    expect(res.status).toBe(200);
    const sid = twilio.creates.find((c) => c.to === to)?.sid;
    expect(await res.json()).toEqual({ outcome: 'found', providerMessageId: sid });
    expect(await courier.messages.get(id)).toMatchObject({ status: 'sent', providerMessageId: sid });
    expect((await problem(await call('POST', `/messages/${id}/reconcile`, { body: '{}', type: 'application/json' }), 409)).detail).toMatch(/only unknown/);
    await problem(await call('POST', '/messages/00000000-0000-4000-8000-000000000000/reconcile'), 404);
    await problem(await call('POST', `/messages/${'m'.repeat(201)}/reconcile`), 400, 'id');
  });

  it('resends a message Twilio never got as a linked message; the original lists it; resending the original again is 409', async () => {
    const to = number();
    twilio.script({ match: (c) => c.to === to, action: { drop: true } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'lost on the way' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent'])).status).toBe('unknown');
    expect(await (await call('POST', `/messages/${id}/reconcile`)).json()).toEqual({ outcome: 'not_found' });
    await problem(await call('POST', `/messages/${id}/resend`, { token: 'wrong-token-0123456789abcdef0' }), 401);
    const res = await call('POST', `/messages/${id}/resend`);
    expect(res.status).toBe(201);
    const { id: again } = (await res.json()) as { id: string };
    expect(res.headers.get('location')).toBe(`/courier/messages/${again}`);
    expect(await waitForStatus(courier, again, ['sent', 'delivered', 'failed'])).toMatchObject({ status: 'sent', parentId: id, relation: 'resend' });
    // The status API shows the link both ways.
    const original = (await (await call('GET', `/messages/${id}`)).json()) as { followUps: unknown[] };
    expect(original.followUps).toEqual([{ id: again, relation: 'resend' }]);
    const follow = (await (await call('GET', `/messages/${again}`)).json()) as { parentId: string; relation: string };
    expect(follow).toMatchObject({ parentId: id, relation: 'resend' });
    expect((await problem(await call('POST', `/messages/${id}/resend`), 409)).detail).toMatch(/already followed up/);
    expect((await problem(await call('POST', `/messages/${again}/resend`), 409)).detail).toMatch(/only unknown, failed or undelivered/);
    expect(twilio.creates.filter((c) => c.to === to).map((c) => c.form.get('Body'))).toEqual(['lost on the way', 'lost on the way']);
  });
});

/** A Postfix-style bounce: the report's parts, returning the original headers. */
function reportParts(originalHeaders: string, recipient: string, action: string, status: string, diagnostic: string) {
  const boundary = 'B0UND.1764500000/mx.example.test';
  const statusPart = ['Reporting-MTA: dns; mx.example.test', '', `Final-Recipient: rfc822; ${recipient}`, `Action: ${action}`, `Status: ${status}`, `Diagnostic-Code: smtp; ${diagnostic}`, ''].join('\r\n');
  const body = [
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Your message could not be delivered.',
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    statusPart,
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    originalHeaders.trim(),
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
  const type = `multipart/report; report-type=delivery-status; boundary="${boundary}"`;
  const email = ['From: MAILER-DAEMON@mx.example.test', 'To: noreply@acme.test', 'Subject: Undelivered Mail Returned to Sender', 'MIME-Version: 1.0', `Content-Type: ${type}`, '', body].join('\r\n');
  return { statusPart, body, type, email };
}

describe('POST /webhooks/dsn (bounce pipe)', () => {
  const sentEmail = async (to: string) => {
    const id = await courier.messages.send({ channel: 'email', to, subject: 'Hi', body: 'x', cc: ['copy@example.test'] });
    await waitForStatus(courier, id, ['sent']);
    const raw = smtp.received.find((m) => m.rcptTo.includes(to))?.raw as Buffer;
    return { id, headers: raw.toString('utf8').split('\r\n\r\n')[0] as string };
  };

  it('takes the whole bounce email (message/rfc822): undelivered, suppressed, applied once', async () => {
    const { id, headers } = await sentEmail('gone@example.test');
    const { email } = reportParts(headers, 'gone@example.test', 'failed', '5.1.1', '550 5.1.1 User unknown');
    await problem(await call('POST', '/webhooks/dsn', { body: email, type: 'message/rfc822', token: null }), 401);
    expect((await courier.messages.get(id))?.status).toBe('sent');
    const res = await call('POST', '/webhooks/dsn', { body: email, type: 'message/rfc822' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messageId: id, recipients: 1 });
    expect(await courier.messages.get(id)).toMatchObject({ status: 'undelivered', error: { code: '5.1.1' } });
    expect(await courier.messages.suppression('email', 'gone@example.test')).toMatchObject({ code: '5.1.1' });
    expect((await call('POST', '/webhooks/dsn', { body: email, type: 'message/rfc822' })).status).toBe(200);
    expect((await courier.messages.events(id)).filter((e) => e.source === 'dsn')).toHaveLength(1);
  });

  it('takes the multipart/report body alone, and a bare message/delivery-status part with ?messageId=', async () => {
    const first = await sentEmail('late@example.test');
    const a = reportParts(first.headers, 'late@example.test', 'failed', '5.7.1', '550 5.7.1 Message rejected by policy');
    expect(await (await call('POST', '/webhooks/dsn', { body: a.body, type: a.type })).json()).toEqual({ messageId: first.id, recipients: 1 });
    expect((await courier.messages.get(first.id))?.status).toBe('undelivered');
    // A policy rejection suppresses nobody.
    expect(await courier.messages.suppression('email', 'late@example.test')).toBeNull();

    const second = await sentEmail('full@example.test');
    const b = reportParts(second.headers, 'full@example.test', 'failed', '5.2.2', '552 5.2.2 Mailbox full');
    await problem(await call('POST', '/webhooks/dsn', { body: b.statusPart, type: 'message/delivery-status' }), 400, 'messageId');
    const res = await call('POST', `/webhooks/dsn?messageId=${second.id}`, { body: b.statusPart, type: 'message/delivery-status' });
    expect(await res.json()).toEqual({ messageId: second.id, recipients: 1 });
    expect(await courier.messages.get(second.id)).toMatchObject({ status: 'undelivered', error: { code: '5.2.2' } });
  });

  it('a bounce for a copy recipient leaves the message alone', async () => {
    const { id, headers } = await sentEmail('main@example.test');
    const { email } = reportParts(headers, 'copy@example.test', 'failed', '5.1.1', '550 5.1.1 User unknown');
    expect(await (await call('POST', '/webhooks/dsn', { body: email, type: 'message/rfc822' })).json()).toEqual({ messageId: id, recipients: 0 });
    expect((await courier.messages.get(id))?.status).toBe('sent');
    expect(await courier.messages.suppression('email', 'main@example.test')).toBeNull();
  });

  it('answers bad input with problem+json: not a DSN, wrong type, unknown or mismatched message, too large', async () => {
    const { id, headers } = await sentEmail('odd@example.test');
    const { email, statusPart } = reportParts(headers, 'odd@example.test', 'failed', '5.1.1', '550 5.1.1 User unknown');
    await problem(await call('POST', '/webhooks/dsn', { body: 'Subject: hello\r\n\r\nnot a report', type: 'message/rfc822' }), 400, 'body');
    await problem(await call('POST', '/webhooks/dsn', { body: '{"bounce":true}', type: 'application/json' }), 415, 'body');
    await problem(await call('POST', '/webhooks/dsn', { body: email }), 415, 'body');
    await problem(await call('POST', '/webhooks/dsn?messageId=not-a-uuid', { body: statusPart, type: 'message/delivery-status' }), 400, 'messageId');
    await problem(await call('POST', '/webhooks/dsn?messageId=00000000-0000-4000-8000-000000000000', { body: email, type: 'message/rfc822' }), 400, 'messageId');
    await problem(await call('POST', '/webhooks/dsn?messageId=00000000-0000-4000-8000-000000000000', { body: statusPart, type: 'message/delivery-status' }), 404, 'messageId');
    await problem(await call('POST', '/webhooks/dsn?sender=x', { body: email, type: 'message/rfc822' }), 400, 'sender');
    await problem(await call('POST', '/webhooks/dsn', { body: `${email}${'x'.repeat(300_000)}`, type: 'message/rfc822' }), 413);
    await problem(await call('GET', '/webhooks/dsn'), 405);
    // None of these touched the message.
    expect((await courier.messages.get(id))?.status).toBe('sent');
    expect((await courier.messages.events(id)).filter((e) => e.source === 'dsn')).toHaveLength(0);
  });
});
