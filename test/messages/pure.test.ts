// Signatures (documented test vectors), templating, status order and content
// rendering: pure functions, no database.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toProgress } from '../../src/messages/batches.js';
import { normalizeEmail, normalizePhone } from '../../src/messages/channels.js';
import { renderContent } from '../../src/messages/content.js';
import { widenRate } from '../../src/messages/gates.js';
import { whatsappMediaProblem } from '../../src/messages/media.js';
import { metaBody } from '../../src/messages/providers/meta.js';
import { addressDomain, smtpMessageId } from '../../src/messages/providers/smtp.js';
import { twilioForm } from '../../src/messages/providers/twilio.js';
import { redact } from '../../src/messages/redact.js';
import {
  metaSignature,
  standardWebhookSignature,
  twilioSignature,
  twilioUrlVariants,
  verifyMetaSignature,
  verifyStandardWebhook,
  verifyTwilioSignature,
} from '../../src/messages/signatures.js';
import { canAdvance, fromMetaStatus, fromTwilioStatus, STATUS_RANK } from '../../src/messages/status.js';
import { escapeHtml, renderTemplate, singleLine } from '../../src/messages/template.js';
import { MESSAGE_STATUSES } from '../../src/messages/types.js';
import { signMeta, statusWebhook } from '../peers/meta.js';
import { signTwilio } from '../peers/twilio.js';

describe('Twilio X-Twilio-Signature', () => {
  // Vector from the research note, matching twilio.validateRequest.
  const params: Array<[string, string]> = Object.entries({
    AccountSid: 'AC00000000000000000000000000000001',
    ApiVersion: '2010-04-01',
    From: '+15550000001',
    MessageSid: 'SM00000000000000000000000000000001',
    MessageStatus: 'delivered',
    SmsSid: 'SM00000000000000000000000000000001',
    SmsStatus: 'delivered',
    To: '+15550000002',
  });
  const url = 'https://hooks.example.test/twilio/status?m=msg_42';

  it('matches the documented test vector', () => {
    expect(twilioSignature('test-auth-token', url, params)).toBe('81EAT6ZYo6Wz+CVSykTKFOVoGI4=');
    expect(signTwilio('test-auth-token', url, Object.fromEntries(params))).toBe('81EAT6ZYo6Wz+CVSykTKFOVoGI4=');
  });
  it('accepts the URL with or without the default port; rejects a changed param, URL or token', () => {
    const sig = twilioSignature('test-auth-token', 'https://hooks.example.test:443/twilio/status?m=msg_42', params);
    expect(verifyTwilioSignature('test-auth-token', [url], params, sig)).toBe(true);
    expect(verifyTwilioSignature('test-auth-token', [url], params, '81EAT6ZYo6Wz+CVSykTKFOVoGI4=')).toBe(true);
    const forged = params.map(([k, v]) => [k, k === 'MessageStatus' ? 'read' : v] as [string, string]);
    expect(verifyTwilioSignature('test-auth-token', [url], forged, '81EAT6ZYo6Wz+CVSykTKFOVoGI4=')).toBe(false);
    expect(verifyTwilioSignature('test-auth-token', [`${url}3`], params, '81EAT6ZYo6Wz+CVSykTKFOVoGI4=')).toBe(false);
    expect(verifyTwilioSignature('other-token', [url], params, '81EAT6ZYo6Wz+CVSykTKFOVoGI4=')).toBe(false);
    expect(verifyTwilioSignature('test-auth-token', [url], params, null)).toBe(false);
  });
  it('sorts repeated keys by value', () => {
    const a = twilioSignature('t', 'https://x.test/', [['MediaUrl', 'b'], ['MediaUrl', 'a'], ['Body', 'x']]);
    const b = twilioSignature('t', 'https://x.test/', [['Body', 'x'], ['MediaUrl', 'a'], ['MediaUrl', 'b']]);
    expect(a).toBe(b);
  });
  it('URL variants', () => {
    expect(twilioUrlVariants('https://a.test/x?y=1')).toEqual(['https://a.test/x?y=1', 'https://a.test:443/x?y=1']);
    expect(twilioUrlVariants('http://a.test:80/x')).toEqual(['http://a.test:80/x', 'http://a.test/x']);
  });
});

describe('Meta X-Hub-Signature-256', () => {
  it('matches the documented vector (openssl dgst -sha256 -hmac appsecret)', () => {
    const body = '{"object":"whatsapp_business_account","entry":[]}';
    const expected = 'sha256=09eceea024af6e6343b760cc9bd3ae7c056938dd636e24e92109eb8219500384';
    expect(metaSignature('appsecret', body)).toBe(expected);
    expect(signMeta('appsecret', body)).toBe(expected);
    expect(verifyMetaSignature('appsecret', Buffer.from(body), expected)).toBe(true);
    expect(verifyMetaSignature('appsecret', Buffer.from(body), expected.toUpperCase().replace('SHA256=', 'sha256='))).toBe(true);
    expect(verifyMetaSignature('appsecret', Buffer.from(`${body} `), expected)).toBe(false);
    expect(verifyMetaSignature('other', Buffer.from(body), expected)).toBe(false);
    expect(verifyMetaSignature('appsecret', Buffer.from(body), null)).toBe(false);
  });
});

describe('Standard Webhooks (EmailJS signed mode)', () => {
  const secret = 'whsec_cGdjb3VyaWVyLXRlc3Qtc2VjcmV0LTAwMDE=';
  const body =
    '{"service_id":"service_demo","template_id":"template_contact","user_id":"pk_demo","template_params":{"submission_id":"0b7c2f3e-6a51-4c1e-9d2a-1f0e8c9b7a65","from_name":"Ana","reply_to":"ana@example.test","message":"Hi"}}';
  const headers = { id: 'sub_0b7c2f3e6a51', timestamp: '1763895600', signature: 'v1,lIPaTHIA1+T1l5kVddLbzW+sJwNsZYXhFw7R+XqiJYs=' };
  it('matches the documented vector (standardwebhooks 1.1.1)', () => {
    expect(standardWebhookSignature(secret, headers.id, headers.timestamp, body)).toBe(headers.signature);
    expect(verifyStandardWebhook(secret, headers, body, { now: 1763895600 + 10 })).toBe('ok');
  });
  it('rejects stale timestamps, forged bodies, and accepts a rotated key list', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now: 1763895600 + 301 })).toBe('expired');
    expect(verifyStandardWebhook(secret, headers, `${body} `, { now: 1763895600 })).toBe('invalid');
    expect(verifyStandardWebhook(secret, { ...headers, signature: `v1,AAAA ${headers.signature}` }, body, { now: 1763895600 })).toBe('ok');
    expect(verifyStandardWebhook(secret, { ...headers, id: null }, body, { now: 1763895600 })).toBe('invalid');
  });
});

describe('templating', () => {
  it('substitutes {{name}}, HTML-escapes values in HTML, reports missing variables', () => {
    expect(renderTemplate('Hi {{ name }}, {{n}}', { name: 'Ana', n: 3 }).text).toBe('Hi Ana, 3');
    expect(renderTemplate('<p>{{x}}</p>', { x: '<script>"&\'' }, { html: true }).text).toBe('<p>&#60;script&#62;&#34;&#38;&#39;</p>');
    expect(renderTemplate('{{a}}{{b}}{{a}}', {})).toEqual({ text: '', missing: ['a', 'b'] });
    expect(renderTemplate('{{a}}', { a: null }).text).toBe('');
  });
  it('never executes anything: values are inserted verbatim, placeholders in values are not expanded', () => {
    expect(renderTemplate('{{a}}', { a: '{{b}}' }, {}).text).toBe('{{b}}');
    expect(renderTemplate('{{constructor}} {{__proto__}}', {}).missing).toEqual(['constructor', '__proto__']);
    const code = ['{{ a + b }}', '$', '{process.exit()}'].join(' ').replace('$ {', '${');
    expect(renderTemplate(code, { a: 1 }).text).toBe(code);
  });
  it('escaped HTML never contains markup characters (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => !/[<>"'&`]/.test(escapeHtml(s).replace(/&#\d+;/g, ''))));
  });
  it('subjects are single lines', () => {
    expect(singleLine('a\r\nBcc: x@y\tz')).toBe('a Bcc: x@y z');
  });
  it('content: literal, text template, email template, provider template, missing variables', () => {
    const base = { channel: 'email', body: null, html: null, subject: null, template: null, variables: {} };
    expect(renderContent({ ...base, body: 'x {{y}}' })).toMatchObject({ ok: true, content: { text: 'x {{y}}' } });
    expect(renderContent({ ...base, template: 'Hi {{n}}', variables: { n: 'Bo' }, subject: 'S {{n}}' })).toMatchObject({ ok: true, content: { text: 'Hi Bo', subject: 'S Bo' } });
    expect(renderContent({ ...base, template: { subject: '{{n}}', html: '<b>{{n}}</b>' }, variables: { n: '<i>' } })).toMatchObject({ ok: true, content: { subject: '<i>', html: '<b>&#60;i&#62;</b>', text: null } });
    expect(renderContent({ ...base, template: { name: 'order_shipped' }, variables: { 1: 'a' } })).toMatchObject({ ok: true, content: { template: { name: 'order_shipped' } } });
    expect(renderContent({ ...base, template: 'Hi {{n}}' })).toEqual({ ok: false, error: 'template variables missing: n' });
  });
});

describe('status order', () => {
  it('moves only forward: a late sent never overwrites delivered, delivered may follow failed', () => {
    expect(canAdvance('delivered', 'sent')).toBe(false);
    expect(canAdvance('read', 'delivered')).toBe(false);
    expect(canAdvance('sent', 'delivered')).toBe(true);
    expect(canAdvance('sent', 'read')).toBe(true);
    expect(canAdvance('failed', 'delivered')).toBe(true);
    expect(canAdvance('delivered', 'failed')).toBe(false);
    expect(canAdvance('unknown', 'sent')).toBe(true);
    expect(canAdvance('failed', 'undelivered')).toBe(false);
  });
  it('applying any sequence of events in any order ends at the highest-ranked one (property)', () => {
    const st = fc.constantFrom(...MESSAGE_STATUSES);
    fc.assert(
      fc.property(fc.array(st, { minLength: 1, maxLength: 12 }), (events) => {
        let s: (typeof MESSAGE_STATUSES)[number] = 'queued';
        for (const e of events) if (canAdvance(s, e)) s = e;
        return STATUS_RANK[s] === Math.max(0, ...events.map((e) => STATUS_RANK[e]));
      }),
    );
  });
  it('the SQL rank matches (same table in migrations/020)', async () => {
    const { readFile } = await import('node:fs/promises');
    const sql = await readFile(new URL('../../migrations/messages/020_messages.sql', import.meta.url), 'utf8');
    for (const [status, rank] of Object.entries(STATUS_RANK)) expect(sql).toContain(`WHEN '${status}' THEN ${rank}`);
  });
  it('maps provider statuses', () => {
    expect(['queued', 'accepted', 'sending', 'sent'].map(fromTwilioStatus)).toEqual(['sent', 'sent', 'sent', 'sent']);
    expect(['delivered', 'undelivered', 'failed', 'read', 'receiving'].map(fromTwilioStatus)).toEqual(['delivered', 'undelivered', 'failed', 'read', null]);
    expect(['sent', 'delivered', 'read', 'failed', 'deleted'].map(fromMetaStatus)).toEqual(['sent', 'delivered', 'read', 'failed', null]);
  });
});

describe('batch progress', () => {
  it('completed + failed + active = total for any counts (property)', () => {
    const counts = fc.record(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, fc.nat(10_000)])) as Record<string, fc.Arbitrary<number>>);
    fc.assert(
      fc.property(counts, (c) => {
        const p = toProgress({ id: 'b', channel: 'sms', name: null, createdAt: new Date(), counts: c });
        return p.completed + p.failed + p.active === p.total && p.progress >= 0 && p.progress <= 100 && (p.active > 0 || p.progress === 100);
      }),
    );
  });
});

describe('providers (request shapes)', () => {
  const msg = { id: '0b7c2f3e-6a51-4c1e-9d2a-1f0e8c9b7a65', channel: 'sms', to: '+15551234567', from: null, subject: null, text: 'Hi', html: null, template: null, variables: {}, media: [], mediaItems: [], expiresAt: null, email: null };
  it('Twilio form: To, From, Body, MediaUrl repeated, StatusCallback with our id, ValidityPeriod from expiresAt', () => {
    const cfg = { accountSid: 'AC1234567890', authToken: 't', from: '+15550001111', baseUrl: 'https://api.twilio.com', statusCallback: 'https://app.test/hooks/twilio', timeout: 30, ambiguous: 'unknown' as const };
    const form = twilioForm(cfg, { ...msg, media: ['https://x.test/a.png', 'https://x.test/b.png'], expiresAt: new Date(Date.now() + 600_500) });
    expect(form.getAll('MediaUrl')).toEqual(['https://x.test/a.png', 'https://x.test/b.png']);
    expect(form.get('StatusCallback')).toBe(`https://app.test/hooks/twilio?m=${msg.id}`);
    expect(form.get('ValidityPeriod')).toBe('600');
    expect(twilioForm(cfg, { ...msg, channel: 'whatsapp' }).get('From')).toBe('whatsapp:+15550001111');
    expect(twilioForm(cfg, { ...msg, channel: 'whatsapp' }).get('To')).toBe('whatsapp:+15551234567');
    const content = twilioForm(cfg, { ...msg, text: null, template: { contentSid: `HX${'a'.repeat(32)}` }, variables: { 1: 'Ana' } });
    expect(content.get('Body')).toBeNull();
    expect(content.get('ContentVariables')).toBe('{"1":"Ana"}');
  });
  it('Meta body: text or template with positional or named parameters, our id in biz_opaque_callback_data', () => {
    expect(metaBody({ ...msg, channel: 'whatsapp' })).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '15551234567', biz_opaque_callback_data: msg.id, type: 'text', text: { body: 'Hi', preview_url: false },
    });
    const t = metaBody({ ...msg, channel: 'whatsapp', text: null, template: { name: 'order_shipped', language: 'en_US' }, variables: { 2: '#1042', 1: 'Ana' } });
    expect(t.template).toEqual({ name: 'order_shipped', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '#1042' }] }] });
    const named = metaBody({ ...msg, channel: 'whatsapp', template: { name: 'x' }, variables: { name: 'Ana' } });
    expect((named.template as any).components[0].parameters).toEqual([{ type: 'text', parameter_name: 'name', text: 'Ana' }]);
  });
  it('Meta media: the message type follows the content type (document, video, audio, image), with caption and file name', () => {
    const wa = { ...msg, channel: 'whatsapp' };
    const one = (item: { url: string; contentType?: string; filename?: string }, text: string | null = 'See attached') => metaBody({ ...wa, text, media: [item.url], mediaItems: [item] });
    expect(one({ url: 'https://cdn.test/files/invoice-42.pdf' })).toMatchObject({ type: 'document', document: { link: 'https://cdn.test/files/invoice-42.pdf', caption: 'See attached', filename: 'invoice-42.pdf' } });
    expect(one({ url: 'https://cdn.test/x?id=9', contentType: 'application/pdf', filename: 'Invoice.pdf' })).toMatchObject({ type: 'document', document: { filename: 'Invoice.pdf' } });
    expect(one({ url: 'https://cdn.test/clip.mp4' })).toMatchObject({ type: 'video', video: { link: 'https://cdn.test/clip.mp4', caption: 'See attached' } });
    expect(one({ url: 'https://cdn.test/voice', contentType: 'audio/ogg' }, null)).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '15551234567', biz_opaque_callback_data: msg.id, type: 'audio', audio: { link: 'https://cdn.test/voice' },
    });
    expect(one({ url: 'https://cdn.test/a.png' })).toMatchObject({ type: 'image', image: { link: 'https://cdn.test/a.png', caption: 'See attached' } });
    expect(whatsappMediaProblem({ text: null, mediaItems: [{ url: 'https://a.test/1.png' }, { url: 'https://a.test/2.png' }] })).toMatch(/one media file per message/);
    expect(whatsappMediaProblem({ text: 'hi', mediaItems: [{ url: 'https://a.test/v.mp3' }] })).toMatch(/audio takes no caption/);
  });
  it('Meta template components: header media, body parameters and buttons in order', () => {
    const t = metaBody({
      ...msg,
      channel: 'whatsapp',
      text: null,
      template: { name: 'invoice_ready', language: 'en_US', header: { document: 'https://cdn.test/inv.pdf', filename: 'inv.pdf' }, buttons: [{ type: 'url', text: 'inv-42' }, { type: 'quick_reply', payload: 'PAID' }, { type: 'copy_code', code: 'SAVE10' }] },
      variables: { 1: 'Ana' },
    });
    expect((t.template as any).components).toEqual([
      { type: 'header', parameters: [{ type: 'document', document: { link: 'https://cdn.test/inv.pdf', filename: 'inv.pdf' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ana' }] },
      { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'inv-42' }] },
      { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'PAID' }] },
      { type: 'button', sub_type: 'copy_code', index: '2', parameters: [{ type: 'coupon_code', coupon_code: 'SAVE10' }] },
    ]);
  });
  it('SMTP Message-ID is deterministic per message', () => {
    expect(addressDomain('Acme <noreply@Acme.test>')).toBe('acme.test');
    expect(smtpMessageId('m1', 'Acme <noreply@acme.test>')).toBe('<m1@acme.test>');
  });
  it('peer webhook shape carries statuses with our id', () => {
    const body = statusWebhook('1', { wamid: 'wamid.x', status: 'delivered', recipient: '1555', opaque: msg.id });
    expect(body.entry[0]?.changes[0]?.value.statuses[0]).toMatchObject({ id: 'wamid.x', status: 'delivered', biz_opaque_callback_data: msg.id });
  });
});

describe('misc', () => {
  it('recipients normalise', () => {
    expect(normalizeEmail(' Ana@Example.TEST ')).toBe('ana@example.test');
    expect(normalizeEmail('not an email')).toBeNull();
    expect(normalizePhone('whatsapp:+1 (555) 123-4567')).toBe('+15551234567');
    expect(normalizePhone('5551234567')).toBeNull();
  });
  it('rate windows widen by the margin', () => {
    expect(widenRate('3/s', 0.2)).toEqual({ limit: 3, per: 1.2 });
    expect(widenRate('100/m', 0)).toEqual({ limit: 100, per: 60 });
    expect(widenRate({ limit: 5, per: 2 }, 0.5)).toEqual({ limit: 5, per: 2.5 });
  });
  it('redacts secrets in plain, URL-encoded and base64 forms', () => {
    const s = 'tok/en+secret';
    expect(redact(`a ${s} b ${encodeURIComponent(s)} c ${Buffer.from(s).toString('base64')}`, [s])).toBe('a [redacted] b [redacted] c [redacted]');
  });
});
