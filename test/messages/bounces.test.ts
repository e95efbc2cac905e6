// Email past `sent`: Resend delivery webhooks (Svix-signed) and SMTP bounces as
// Delivery Status Notifications (RFC 3464) fed through applyDsn().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { serveWeb } from '../peers/http.js';
import { type ResendPeer, startResendPeer } from '../peers/resend.js';
import { type SmtpPeer, startSmtpPeer } from '../peers/smtp.js';
import { fastRetries, messagingCourier, waitForStatus } from './helpers.js';

describe('Resend delivery webhooks', () => {
  let peer: ResendPeer;
  let web: Awaited<ReturnType<typeof serveWeb>>;
  let courier: MessagingCourier;

  beforeAll(async () => {
    peer = await startResendPeer();
    web = await serveWeb({ '/resend': (r) => courier.messages.webhooks.resend(r) });
    peer.webhookUrl = `${web.url}/resend`;
    courier = await messagingCourier({
      resend: { apiKey: peer.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: peer.url, webhookSecret: peer.webhookSecret, timeout: 5 },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    await courier.start({ pollInterval: 0.1, concurrency: 4 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
    await peer.close();
    await web.close();
  });

  const sent = async (to: string) => {
    const id = await courier.messages.send({ channel: 'email', to, subject: 'Hi', body: 'Hello' });
    const m = await waitForStatus(courier, id, ['sent']);
    return { id, emailId: m.providerMessageId as string };
  };

  it('email.delivered and email.opened move the email forward; a replay applies once; delayed changes nothing', async () => {
    const { id, emailId } = await sent('ana@example.test');
    expect(await peer.emit(emailId, 'email.delivery_delayed')).toBe(200);
    expect((await courier.messages.get(id))?.status).toBe('sent');
    expect(await peer.emit(emailId, 'email.delivered')).toBe(200);
    expect(await peer.emit(emailId, 'email.delivered')).toBe(200);
    expect((await courier.messages.get(id))?.status).toBe('delivered');
    expect(await peer.emit(emailId, 'email.opened')).toBe(200);
    expect((await courier.messages.get(id))?.status).toBe('read');
    const events = await courier.messages.events(id);
    expect(events.map((e) => [e.source, e.status, e.applied])).toEqual([
      ['resend', 'sent', false],
      ['resend', 'delivered', true],
      ['resend', 'read', true],
    ]);
  });

  it('a permanent bounce is undelivered and suppresses the recipient; a transient one does not', async () => {
    const hard = await sent('gone@example.test');
    expect(await peer.emit(hard.emailId, 'email.bounced', { bounce: { type: 'Permanent', subType: 'General', message: '550 5.1.1 The email account does not exist' } })).toBe(200);
    const m = await waitForStatus(courier, hard.id, ['undelivered']);
    expect(m.error).toEqual({ code: 'bounce:permanent', message: '550 5.1.1 The email account does not exist' });
    expect(await courier.messages.suppression('email', 'gone@example.test')).toMatchObject({ code: 'bounce:permanent', sender: null });
    const soft = await sent('full@example.test');
    expect(await peer.emit(soft.emailId, 'email.bounced', { bounce: { type: 'Transient', subType: 'MailboxFull', message: 'mailbox full' } })).toBe(200);
    await waitForStatus(courier, soft.id, ['undelivered']);
    expect(await courier.messages.suppression('email', 'full@example.test')).toBeNull();
  });

  it('a complaint suppresses the recipient', async () => {
    const { id, emailId } = await sent('angry@example.test');
    expect(await peer.emit(emailId, 'email.delivered')).toBe(200);
    expect(await peer.emit(emailId, 'email.complained')).toBe(200);
    expect((await courier.messages.get(id))?.status).toBe('delivered');
    expect(await courier.messages.suppression('email', 'angry@example.test')).toMatchObject({ code: 'complaint' });
  });

  it('forged or stale signatures are refused with 401 problem+json and change nothing', async () => {
    const { id, emailId } = await sent('bo@example.test');
    expect(await peer.emit(emailId, 'email.bounced', { bounce: { type: 'Permanent' } }, { forge: true })).toBe(401);
    expect(await peer.emit(emailId, 'email.bounced', { bounce: { type: 'Permanent' } }, { timestamp: Math.floor(Date.now() / 1000) - 3600 })).toBe(401);
    expect((await courier.messages.get(id))?.status).toBe('sent');
    expect(await courier.messages.suppression('email', 'bo@example.test')).toBeNull();
  });
});

describe('SMTP bounces as DSN (RFC 3464)', () => {
  let smtp: SmtpPeer;
  let courier: MessagingCourier;

  beforeAll(async () => {
    smtp = await startSmtpPeer({ users: { courier: 'pw' } });
    courier = await messagingCourier({
      smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'pw' }, from: 'Acme <noreply@acme.test>', tls: { ca: smtp.cert.cert }, timeout: 5 },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    await courier.start({ pollInterval: 0.1, concurrency: 2 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
    await smtp.close();
  });

  /** A bounce as a receiving MTA (Postfix style) writes it, returning the original headers. */
  function dsn(originalHeaders: string, recipient: string, action: string, status: string, diagnostic: string): string {
    return [
      'From: MAILER-DAEMON@mx.example.test (Mail Delivery System)',
      'To: noreply@acme.test',
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status;',
      '\tboundary="B0UND.1764500000/mx.example.test"',
      '',
      'This is a MIME-encapsulated message.',
      '',
      '--B0UND.1764500000/mx.example.test',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'I\'m sorry to have to inform you that your message could not be delivered.',
      '',
      '--B0UND.1764500000/mx.example.test',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.test',
      'Arrival-Date: Mon, 30 Nov 2026 15:00:00 +0000',
      '',
      `Final-Recipient: rfc822; ${recipient}`,
      `Original-Recipient: rfc822;${recipient}`,
      `Action: ${action}`,
      `Status: ${status}`,
      'Remote-MTA: dns; mailbox.example.test',
      `Diagnostic-Code: smtp; ${diagnostic}`,
      '',
      '--B0UND.1764500000/mx.example.test',
      'Content-Type: text/rfc822-headers',
      '',
      originalHeaders.trim(),
      '',
      '--B0UND.1764500000/mx.example.test--',
      '',
    ].join('\r\n');
  }
  const headersOf = (raw: Buffer) => raw.toString('utf8').split('\r\n\r\n')[0] as string;

  it('a failed 5.1.1 report makes the email undelivered and suppresses the recipient; applying it again changes nothing', async () => {
    const id = await courier.messages.send({ channel: 'email', to: 'nobody@example.test', subject: 'Hi', body: 'x' });
    await waitForStatus(courier, id, ['sent']);
    const mail = smtp.received.find((m) => m.rcptTo.includes('nobody@example.test'));
    const report = dsn(headersOf(mail?.raw as Buffer), 'nobody@example.test', 'failed', '5.1.1', '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown');
    expect(await courier.messages.applyDsn(report)).toEqual({ messageId: id, recipients: 1, found: true });
    const m = await courier.messages.get(id);
    expect(m).toMatchObject({ status: 'undelivered', error: { code: '5.1.1' } });
    expect(await courier.messages.suppression('email', 'nobody@example.test')).toMatchObject({ code: '5.1.1' });
    await courier.messages.applyDsn(Buffer.from(report));
    expect((await courier.messages.events(id)).filter((e) => e.source === 'dsn')).toHaveLength(1);
  });

  it('a policy rejection (5.7.1) is undelivered but suppresses nobody; a delayed report changes nothing', async () => {
    const id = await courier.messages.send({ channel: 'email', to: 'strict@example.test', subject: 'Hi', body: 'x' });
    await waitForStatus(courier, id, ['sent']);
    const head = headersOf(smtp.received.find((m) => m.rcptTo.includes('strict@example.test'))?.raw as Buffer);
    await courier.messages.applyDsn(dsn(head, 'strict@example.test', 'delayed', '4.4.1', '451 4.4.1 Connection timed out'));
    expect((await courier.messages.get(id))?.status).toBe('sent');
    await courier.messages.applyDsn(dsn(head, 'strict@example.test', 'failed', '5.7.1', '550 5.7.1 Message rejected by policy'));
    expect((await courier.messages.get(id))?.status).toBe('undelivered');
    expect(await courier.messages.suppression('email', 'strict@example.test')).toBeNull();
  });

  it('refuses what is not a DSN, naming the field', async () => {
    await expect(courier.messages.applyDsn('Subject: hello\r\n\r\nnot a report')).rejects.toThrow(ValidationError);
  });
});
