// Bulk email hygiene: List-Unsubscribe with one-click POST (RFC 8058) on a signed
// URL, and reply-to, cc, bcc, custom headers and attachments over SMTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { serveWeb } from '../peers/http.js';
import { type SmtpPeer, startSmtpPeer } from '../peers/smtp.js';
import { fastRetries, messagingCourier, waitForStatus } from './helpers.js';

let smtp: SmtpPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;

beforeAll(async () => {
  smtp = await startSmtpPeer({ users: { courier: 'pw' } });
  web = await serveWeb({ '/unsubscribe': (r) => courier.messages.webhooks.unsubscribe(r) });
  courier = await messagingCourier({
    smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'pw' }, from: 'Acme News <news@acme.test>', tls: { ca: smtp.cert.cert }, timeout: 5 },
    unsubscribe: { url: `${web.url}/unsubscribe`, secret: 'unsubscribe-signing-secret-0001' },
    rateLimits: { email: '50/s' },
    sendTask: fastRetries,
  });
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await smtp.close();
  await web.close();
});

function headers(raw: Buffer): Map<string, string> {
  const head = raw.toString('utf8').split('\r\n\r\n')[0] as string;
  const out = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    out.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}
const mailTo = (to: string) => waitFor(() => smtp.received.find((m) => m.rcptTo.includes(to)));

describe('List-Unsubscribe (RFC 8058)', () => {
  it('bulk emails carry a signed one-click link; GET only confirms, POST suppresses for that sender', async () => {
    const batchId = await courier.messages.sendBulk({ channel: 'email', recipients: ['ana@example.test', 'bo@example.test'], template: 'Spring sale', subject: 'News' });
    await courier.messages.batch(batchId).done({ timeout: 20 });
    const h = headers((await mailTo('ana@example.test')).raw);
    expect(h.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const link = /^<(https?:\/\/[^>]+)>$/.exec(h.get('list-unsubscribe') ?? '')?.[1] as string;
    expect(link).toMatch(new RegExp(`^${web.url}/unsubscribe\\?c=email&r=`));

    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post"');
    expect(await courier.messages.suppression('email', 'ana@example.test')).toBeNull();

    const oneClick = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(oneClick.status).toBe(200);
    expect(await courier.messages.suppression('email', 'ana@example.test')).toMatchObject({ sender: 'news@acme.test', code: 'list_unsubscribe' });

    // The next campaign from news@ skips her; a receipt from another sender still goes.
    const next = await courier.messages.sendBulk({ channel: 'email', recipients: ['ana@example.test'], template: 'Summer sale', subject: 'News' });
    expect((await courier.messages.batch(next).done({ timeout: 20 })).failed).toBe(1);
    const receipt = await courier.messages.send({ channel: 'email', to: 'ana@example.test', from: 'Acme <receipts@acme.test>', subject: 'Your receipt', body: 'Total 12 EUR' });
    expect((await waitForStatus(courier, receipt, ['sent', 'failed'])).status).toBe('sent');
    const receiptMail = smtp.received.filter((m) => m.rcptTo.includes('ana@example.test')).at(-1);
    expect(headers(receiptMail?.raw as Buffer).has('list-unsubscribe')).toBe(false);
  });

  it('a link with a changed recipient or a bad signature is refused (403 problem+json)', async () => {
    await courier.messages.send({ channel: 'email', to: 'cy@example.test', subject: 'News', body: 'x', unsubscribe: true });
    const link = new URL(/^<([^>]+)>$/.exec(headers((await mailTo('cy@example.test')).raw).get('list-unsubscribe') ?? '')?.[1] as string);
    link.searchParams.set('r', Buffer.from('victim@example.test').toString('base64url'));
    const res = await fetch(link, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
    expect([res.status, res.headers.get('content-type')]).toEqual([403, 'application/problem+json']);
    expect(await courier.messages.suppression('email', 'victim@example.test')).toBeNull();
  });
});

describe('reply-to, cc, bcc, headers, attachments', () => {
  it('go out over SMTP as given', async () => {
    const pdf = Buffer.from('%PDF-1.4 tiny test file').toString('base64');
    const id = await courier.messages.send({
      channel: 'email',
      to: 'dee@example.test',
      subject: 'Invoice',
      body: 'See attached.',
      replyTo: 'billing@acme.test',
      cc: ['accounts@example.test'],
      bcc: ['archive@acme.test'],
      headers: { 'X-Campaign': 'invoices-2026-11' },
      attachments: [{ filename: 'invoice-42.pdf', content: pdf, contentType: 'application/pdf' }],
    });
    await waitForStatus(courier, id, ['sent']);
    const mail = await mailTo('dee@example.test');
    expect(mail.rcptTo.sort()).toEqual(['accounts@example.test', 'archive@acme.test', 'dee@example.test']);
    const h = headers(mail.raw);
    expect(h.get('reply-to')).toBe('billing@acme.test');
    expect(h.get('cc')).toBe('accounts@example.test');
    expect(h.has('bcc')).toBe(false);
    expect(h.get('x-campaign')).toBe('invoices-2026-11');
    expect(h.get('content-type')).toMatch(/^multipart\/mixed/);
    const raw = mail.raw.toString('utf8');
    expect(raw).toMatch(/Content-Disposition: attachment; filename=invoice-42\.pdf/);
    expect(raw.replace(/\r\n/g, '')).toContain(pdf);
  });

  it('refuses structural headers, header injection and email options on other channels, naming the field', async () => {
    await expect(courier.messages.send({ channel: 'email', to: 'e@example.test', body: 'x', headers: { Bcc: 'x@evil.example' } })).rejects.toThrow(/headers/);
    await expect(courier.messages.send({ channel: 'email', to: 'e@example.test', body: 'x', headers: { 'X-A': 'a\r\nBcc: x@evil.example' } })).rejects.toThrow(ValidationError);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551230000', body: 'x', cc: ['a@example.test'] })).rejects.toThrow(/cc.*email only/);
  });
});
