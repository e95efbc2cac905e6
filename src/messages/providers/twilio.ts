import type { z } from 'zod';
import { classifyTwilio } from '../classify.js';
import type { twilioSchema } from '../config.js';
import { whatsappMediaProblem } from '../media.js';
import { request } from './http.js';
import type { MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './provider.js';

type TwilioSettings = z.output<typeof twilioSchema>;

/** `+15551234567` as Twilio wants it on a channel: `whatsapp:+15551234567` for WhatsApp. */
export function twilioAddress(channel: string, address: string): string {
  if (channel !== 'whatsapp' || address.startsWith('whatsapp:')) return address;
  return `whatsapp:${address}`;
}

/** The sender of a message over Twilio: its `from`, the configured number, or the messaging service. */
export function twilioSender(config: TwilioSettings, m: Pick<OutgoingMessage, 'channel' | 'from'>): string {
  return m.from ?? (m.channel === 'whatsapp' ? (config.whatsappFrom ?? config.from) : config.from) ?? config.messagingServiceSid ?? '';
}

/** The status callback URL of one message: the configured URL with `m=<message id>` added. */
export function twilioStatusCallback(base: string, messageId: string): string {
  const u = new URL(base);
  u.searchParams.set('m', messageId);
  return u.toString();
}

/**
 * The form body of a Twilio Messages create request for `message`: To, From (or
 * MessagingServiceSid), Body or ContentSid/ContentVariables, MediaUrl repeated,
 * StatusCallback and ValidityPeriod.
 */
export function twilioForm(config: TwilioSettings, message: OutgoingMessage, now = Date.now()): URLSearchParams {
  const form = new URLSearchParams();
  form.set('To', twilioAddress(message.channel, message.to));
  const from = message.from ?? (message.channel === 'whatsapp' ? (config.whatsappFrom ?? config.from) : config.from);
  if (from) form.set('From', twilioAddress(message.channel, from));
  else if (config.messagingServiceSid) form.set('MessagingServiceSid', config.messagingServiceSid);
  if (message.template && 'contentSid' in message.template) {
    form.set('ContentSid', message.template.contentSid);
    if (Object.keys(message.variables).length > 0) form.set('ContentVariables', JSON.stringify(message.variables));
  } else if (message.text !== null && message.text !== '') {
    form.set('Body', message.text);
  }
  for (const url of message.media) form.append('MediaUrl', url);
  if (config.statusCallback) form.set('StatusCallback', twilioStatusCallback(config.statusCallback, message.id));
  if (message.expiresAt) {
    const left = Math.floor((message.expiresAt.getTime() - now) / 1000);
    form.set('ValidityPeriod', String(Math.min(36_000, Math.max(1, left))));
  }
  return form;
}

/** SMS, MMS and WhatsApp over Twilio Programmable Messaging (`POST …/Messages.json`). */
export function twilioProvider(config: TwilioSettings): MessageProvider {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`;
  const auth = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`;
  return {
    name: 'twilio',
    channels: ['sms', 'whatsapp'],
    rateLimit: config.rateLimit,
    ambiguous: config.ambiguous,
    secrets: [config.authToken, auth.slice(6)],
    gateKey: (m) => `twilio:${m.channel}:${config.accountSid}:${twilioSender(config, m)}`,
    sender: (m) => twilioSender(config, m),
    validate(message) {
      if (message.template && 'name' in message.template) return 'a WhatsApp Cloud API template ({ name, language }) cannot go through Twilio; use a Content template ({ contentSid })';
      return message.channel === 'whatsapp' ? whatsappMediaProblem(message) : null;
    },
    async lookup(m, ctx) {
      // Messages to this number sent from our sender since the attempt started (Twilio's list filters by To and DateSent).
      const q = new URLSearchParams({ To: twilioAddress(m.channel, m.to), 'DateSent>': m.startedAt.toISOString().slice(0, 10), PageSize: '50' });
      const result = await request(`${url}?${q}`, { method: 'GET', headers: { authorization: auth, accept: 'application/json' } }, { timeout: config.timeout, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (result.kind !== 'reply') return { failed: result.error };
      if (result.reply.status !== 200) return { failed: `twilio ${result.reply.status}: ${(result.reply.json as { message?: string } | undefined)?.message ?? 'unexpected reply'}` };
      const list = ((result.reply.json ?? {}) as { messages?: Array<{ sid?: string; from?: string; date_created?: string; direction?: string }> }).messages ?? [];
      const from = twilioAddress(m.channel, twilioSender(config, m));
      const since = m.startedAt.getTime() - 5000;
      const hit = list.find((x) => x.direction?.startsWith('outbound') && (x.from === from || from.startsWith('MG')) && Date.parse(x.date_created ?? '') >= since && typeof x.sid === 'string');
      return hit?.sid ? { found: true, providerMessageId: hit.sid } : { found: false };
    },
    async send(message: OutgoingMessage, ctx: ProviderContext): Promise<SendResult> {
      const result = await request(
        url,
        {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: twilioForm(config, message).toString(),
        },
        { timeout: config.timeout, signal: ctx.signal },
      );
      if (result.kind === 'not_sent') return { outcome: 'retry', code: null, message: result.error };
      if (result.kind === 'maybe_sent') return { outcome: 'ambiguous', code: null, message: result.error };
      const { status, json, headers } = result.reply;
      const data = (json ?? {}) as { sid?: string; code?: number; message?: string };
      if (status >= 200 && status < 300 && typeof data.sid === 'string') return { outcome: 'ok', providerMessageId: data.sid };
      const c = classifyTwilio({ status, code: typeof data.code === 'number' ? data.code : null, message: data.message ?? null, retryAfter: headers.get('retry-after') });
      return { outcome: c.outcome, code: c.code, message: c.message, retryAfter: c.retryAfter, suppress: c.suppress };
    },
  };
}
