import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { type SmtpPeer, startSmtpPeer } from '../peers/smtp.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

const PASS = 'smtp-pass-s3cret';

function headers(raw: Buffer): Map<string, string> {
  const head = raw.toString('utf8').split('\r\n\r\n')[0] as string;
  const out = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    out.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

describe('SMTP over STARTTLS with AUTH (587 style)', () => {
  let peer: SmtpPeer;
  let courier: MessagingCourier;
  const log = captureLogger();

  beforeAll(async () => {
    peer = await startSmtpPeer({ users: { courier: PASS } });
    courier = await messagingCourier(
      {
        smtp: { host: '127.0.0.1', port: peer.port, secure: false, auth: { user: 'courier', pass: PASS }, from: 'Acme <noreply@acme.test>', tls: { ca: peer.cert.cert }, timeout: 5 },
        sendTask: fastRetries,
      },
      { logger: log.logger },
    );
    await courier.start({ pollInterval: 0.1, concurrency: 4 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
    await peer.close();
  });

  it('delivers a templated message byte for byte: TLS before AUTH, deterministic Message-ID, escaped HTML', async () => {
    const id = await courier.messages.send({
      channel: 'email',
      to: 'Ana@Example.test',
      template: { subject: 'Welcome {{name}}', text: 'Hi {{name}}, your code is {{code}}.', html: '<p>Hi {{name}}</p>' },
      variables: { name: 'Ana <b>', code: 4821 },
    });
    const m = await waitForStatus(courier, id, ['sent', 'failed', 'unknown']);
    expect(m.status).toBe('sent');
    expect(m.providerMessageId).toBe(`<${id}@acme.test>`);
    expect(peer.auths).toEqual([{ user: 'courier', method: 'PLAIN', secure: true }]);
    const mail = peer.received.at(-1);
    expect(mail).toMatchObject({ user: 'courier', secure: true, mailFrom: 'noreply@acme.test', rcptTo: ['ana@example.test'] });
    const h = headers(mail?.raw as Buffer);
    expect(h.get('message-id')).toBe(`<${id}@acme.test>`);
    expect(h.get('from')).toBe('Acme <noreply@acme.test>');
    expect(h.get('to')).toBe('ana@example.test');
    expect(h.get('subject')).toBe('Welcome Ana <b>');
    expect(h.get('x-courier-message-id')).toBe(id);
    expect(h.get('content-type')).toMatch(/^multipart\/alternative; boundary=/);
    const body = mail?.raw.toString('utf8') as string;
    expect(body).toContain('\r\n\r\nHi Ana <b>, your code is 4821.\r\n');
    expect(body).toContain('<p>Hi Ana &#60;b&#62;</p>');
    expect(await courier.messages.attempts(id)).toMatchObject([{ n: 1, outcome: 'ok', providerMessageId: `<${id}@acme.test>` }]);
  });

  it('a 4xx reply is retried and then delivered', async () => {
    peer.script({ stage: 'RCPT', match: /^retry@/, code: 451, text: '4.3.0 Temporary lookup failure' });
    const id = await courier.messages.send({ channel: 'email', to: 'retry@example.test', subject: 'Hello', body: 'again' });
    const m = await waitForStatus(courier, id, ['sent', 'failed', 'unknown']);
    expect(m.status).toBe('sent');
    const attempts = await courier.messages.attempts(id);
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'ok']);
    expect(attempts[0]?.error?.code).toBe('451 4.3.0');
    expect((await taskRow(courier, m.taskId))?.attempts).toBe(2);
  });

  it('a 5xx reply on the message is permanent: failed at once, not retried, recipient not suppressed', async () => {
    peer.script({ stage: 'DATA', match: /^spam@/, code: 554, text: '5.7.1 Message rejected as spam' });
    const id = await courier.messages.send({ channel: 'email', to: 'spam@example.test', subject: 'Hello', body: 'buy now' });
    const m = await waitForStatus(courier, id, ['failed', 'sent']);
    expect(m.status).toBe('failed');
    expect(m.error).toEqual({ code: '554 5.7.1', message: '554 5.7.1 Message rejected as spam' });
    expect(await courier.messages.attempts(id)).toHaveLength(1);
    expect(await courier.messages.suppression('email', 'spam@example.test')).toBeNull();
    // The message is failed in the handler; the task's outcome is written after it returns.
    await waitFor(async () => (await taskRow(courier, m.taskId))?.status === 'failed', 10_000, 'the send task to settle as failed');
  });

  it('a 5.1.1 unknown-user reply fails the message and suppresses the recipient; a later send is not attempted', async () => {
    peer.script({ stage: 'RCPT', match: /^ghost@/, code: 550, text: '5.1.1 No such user' });
    const id = await courier.messages.send({ channel: 'email', to: 'ghost@example.test', subject: 'Hello', body: 'hi' });
    expect((await waitForStatus(courier, id, ['failed', 'sent'])).error?.code).toBe('550 5.1.1');
    expect(await courier.messages.suppression('email', 'GHOST@example.test')).toMatchObject({ code: '550 5.1.1' });
    const before = peer.received.length;
    const again = await courier.messages.send({ channel: 'email', to: 'ghost@example.test', subject: 'Hello', body: 'hi' });
    const m = await waitForStatus(courier, again, ['failed', 'sent']);
    expect(m.error?.code).toBe('suppressed');
    expect(await courier.messages.attempts(again)).toHaveLength(0);
    expect(peer.received.length).toBe(before);
  });

  it('a 5.4.5 quota reply is rate-limited: deferred without using a retry, the gate paused', async () => {
    peer.script({ stage: 'MAIL', code: 550, text: '5.4.5 Daily user sending limit exceeded' });
    const id = await courier.messages.send({ channel: 'email', to: 'quota@example.test', subject: 'Hello', body: 'hi' });
    const m = await waitForStatus(courier, id, ['pending']);
    const ledger = await courier.messages.attempts(id);
    expect(ledger).toMatchObject([{ outcome: 'rate_limited', error: { code: '550 5.4.5' } }]);
    const task = await waitFor(async () => {
      const t = await taskRow(courier, m.taskId);
      return t?.status === 'queued' ? t : null;
    });
    expect(task).toMatchObject({ status: 'queued', attempts: 1, deferrals: 1 });
    expect((task?.run_at.getTime() ?? 0) - Date.now()).toBeGreaterThan(3000 * 1000);
    const paused = await courier.messages.pausedProviders();
    expect(paused).toHaveLength(1);
    expect(paused[0]?.key).toBe('smtp:127.0.0.1:courier');
    await courier.messages.resumeProvider('smtp:127.0.0.1:courier');
  });

  it('a connection lost after the message data is ambiguous: marked unknown, not resent', async () => {
    peer.script({ stage: 'DATA', match: /^drop@/, drop: true });
    const id = await courier.messages.send({ channel: 'email', to: 'drop@example.test', subject: 'Hello', body: 'hi' });
    const m = await waitForStatus(courier, id, ['unknown', 'sent', 'failed']);
    expect(m.status).toBe('unknown');
    expect(await courier.messages.attempts(id)).toMatchObject([{ outcome: 'ambiguous' }]);
    // The task's own outcome is written in the processor's next batch: wait for it.
    await waitFor(async () => (await taskRow(courier, m.taskId))?.status === 'succeeded', 10_000, 'the send task to succeed');
  });

  it('secrets never appear in the log', () => {
    expect(log.text()).not.toContain(PASS);
  });
});

describe('SMTP over implicit TLS (465 style)', () => {
  let peer: SmtpPeer;
  let courier: MessagingCourier;
  beforeAll(async () => {
    peer = await startSmtpPeer({ secure: true, users: { courier: PASS } });
    courier = await messagingCourier({
      smtp: { host: '127.0.0.1', port: peer.port, secure: true, auth: { user: 'courier', pass: PASS }, from: 'noreply@acme.test', tls: { ca: peer.cert.cert }, timeout: 5 },
      sendTask: fastRetries,
    });
    await courier.start({ pollInterval: 0.1 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
    await peer.close();
  });

  it('delivers over TLS from the first byte', async () => {
    const id = await courier.messages.send({ channel: 'email', to: 'bo@example.test', subject: 'Hi', body: 'over 465' });
    expect((await waitForStatus(courier, id, ['sent', 'failed', 'unknown'])).status).toBe('sent');
    expect(peer.received[0]).toMatchObject({ secure: true, user: 'courier', rcptTo: ['bo@example.test'] });
  });
});

describe('SMTP configuration errors', () => {
  let peer: SmtpPeer;
  let courier: MessagingCourier;
  const log = captureLogger();
  afterEach(async () => {
    await courier?.close({ grace: 1 });
    await peer?.close();
  });

  it('a wrong password pauses the provider, logs one clear error and burns no retries', async () => {
    peer = await startSmtpPeer({ users: { courier: PASS } });
    const wrong = 'wrong-password-value';
    courier = await messagingCourier(
      {
        smtp: { host: '127.0.0.1', port: peer.port, auth: { user: 'courier', pass: wrong }, from: 'noreply@acme.test', tls: { ca: peer.cert.cert }, timeout: 5 },
        sendTask: { ...fastRetries, maxRetries: 0 },
      },
      { logger: log.logger },
    );
    const ids = await Promise.all([1, 2, 3].map((i) => courier.messages.send({ channel: 'email', to: `u${i}@example.test`, subject: 'x', body: 'y' })));
    await courier.start({ pollInterval: 0.1, concurrency: 1 });
    for (const id of ids) await waitForStatus(courier, id, ['pending']);
    await new Promise((r) => setTimeout(r, 300));
    const errors = log.lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(/provider smtp refused our configuration/);
    expect(peer.auths.length).toBe(1);
    for (const id of ids) {
      const m = await courier.messages.get(id);
      expect(m?.status).toBe('pending');
      await waitFor(async () => (await taskRow(courier, m?.taskId ?? null))?.status === 'queued', 5000, 'task deferred');
    }
    expect(log.text()).not.toContain(wrong);
  });
});

describe('SMTP errors classified by stage and RFC 3463 code (never the recipient for a sender or policy problem)', () => {
  let peer: SmtpPeer;
  let courier: MessagingCourier;

  beforeAll(async () => {
    peer = await startSmtpPeer({ users: { courier: PASS } });
    courier = await messagingCourier({
      smtp: { host: '127.0.0.1', port: peer.port, auth: { user: 'courier', pass: PASS }, from: 'Acme <noreply@acme.test>', tls: { ca: peer.cert.cert }, timeout: 5 },
      sendTask: fastRetries,
      gates: { configPause: 0.5 },
    });
    await courier.start({ pollInterval: 0.1, concurrency: 2 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
    await peer.close();
  });

  it('553 5.1.8 at MAIL FROM (our sender domain) pauses the sender and suppresses nobody; the bulk goes out once it is fixed', async () => {
    peer.script({ stage: 'MAIL', code: 553, text: '5.1.8 <noreply@acme.test>: Sender address rejected: Domain not found', times: 2 });
    const recipients = ['one@example.test', 'two@example.test'];
    const batchId = await courier.messages.sendBulk({ channel: 'email', recipients, template: 'Hi', subject: 'News' });
    const final = await courier.messages.batch(batchId).done({ timeout: 20 });
    expect(final).toMatchObject({ completed: 2, failed: 0 });
    for (const to of recipients) expect(await courier.messages.suppression('email', to)).toBeNull();
    const { rows } = await courier.pool.query<{ outcome: string; error_code: string }>(
      `SELECT a.outcome, a.error_code FROM "${courier.schema}".message_attempts a JOIN "${courier.schema}".messages m ON m.id = a.message_id WHERE m.batch_id = $1 AND a.outcome <> 'ok'`,
      [batchId],
    );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.outcome === 'config' && r.error_code === '553 5.1.8')).toBe(true);
  });

  it('550 5.7.1 relay denied and 550 5.7.606 IP blocklisted at RCPT are policy: nobody is suppressed', async () => {
    peer.script({ stage: 'RCPT', match: /^relay@/, code: 550, text: '5.7.1 Relaying denied' });
    peer.script({ stage: 'RCPT', match: /^blocked@/, code: 550, text: '5.7.606 Access denied, banned sending IP [127.0.0.1]' });
    for (const to of ['relay@example.test', 'blocked@example.test']) {
      const id = await courier.messages.send({ channel: 'email', to, subject: 'x', body: 'y' });
      const m = await waitForStatus(courier, id, ['sent', 'failed'], 20_000);
      expect(m.status).toBe('sent');
      expect((await courier.messages.attempts(id)).map((a) => a.outcome)).toEqual(['config', 'ok']);
      expect(await courier.messages.suppression('email', to)).toBeNull();
    }
  });

  it('550 5.2.1 (mailbox disabled) at RCPT is about the recipient: suppressed', async () => {
    peer.script({ stage: 'RCPT', match: /^disabled@/, code: 550, text: '5.2.1 Mailbox disabled, not accepting messages' });
    const id = await courier.messages.send({ channel: 'email', to: 'disabled@example.test', subject: 'x', body: 'y' });
    expect((await waitForStatus(courier, id, ['failed', 'sent'])).error?.code).toBe('550 5.2.1');
    expect(await courier.messages.suppression('email', 'disabled@example.test')).toMatchObject({ code: '550 5.2.1', sender: null });
  });
});
