import type { z } from 'zod';
import { classifyMeta } from '../classify.js';
import type { whatsappSchema } from '../config.js';
import { documentName, whatsappMediaProblem, whatsappMediaType } from '../media.js';
import type { WhatsAppTemplate } from '../types.js';
import { request } from './http.js';
import type { MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './provider.js';

type WhatsAppSettings = z.output<typeof whatsappSchema>;

/** A phone number as the Cloud API wants it: digits only, no `+`. */
export function waId(address: string): string {
  return address.replace(/^whatsapp:/, '').replace(/[^\d]/g, '');
}

/** The `components` of a template send: header, body parameters from `variables`, buttons. */
export function templateComponents(template: WhatsAppTemplate, variables: OutgoingMessage['variables']): Array<Record<string, unknown>> {
  const components: Array<Record<string, unknown>> = [];
  const h = template.header;
  if (h) {
    const parameter =
      'text' in h
        ? { type: 'text', text: h.text }
        : 'image' in h
          ? { type: 'image', image: { link: h.image } }
          : 'video' in h
            ? { type: 'video', video: { link: h.video } }
            : { type: 'document', document: { link: h.document, ...(h.filename ? { filename: h.filename } : {}) } };
    components.push({ type: 'header', parameters: [parameter] });
  }
  const entries = Object.entries(variables);
  const positional = entries.every(([k]) => /^\d+$/.test(k));
  const parameters = positional
    ? entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => ({ type: 'text', text: v === null ? '' : String(v) }))
    : entries.map(([k, v]) => ({ type: 'text', parameter_name: k, text: v === null ? '' : String(v) }));
  if (parameters.length > 0) components.push({ type: 'body', parameters });
  for (const [i, b] of (template.buttons ?? []).entries()) {
    const parameter = b.type === 'url' ? { type: 'text', text: b.text } : b.type === 'quick_reply' ? { type: 'payload', payload: b.payload } : { type: 'coupon_code', coupon_code: b.code };
    components.push({ type: 'button', sub_type: b.type, index: String(i), parameters: [parameter] });
  }
  return components;
}

/**
 * The JSON body of a Cloud API send: a template (header, body parameters from
 * `variables` — keys `1`, `2`… in order, otherwise named — and buttons), a media
 * message typed by its content type (image, video, audio, document, with the text
 * as caption), or text. `biz_opaque_callback_data` carries our message id to the
 * webhooks.
 */
export function metaBody(message: OutgoingMessage): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: waId(message.to), biz_opaque_callback_data: message.id };
  if (message.template && 'name' in message.template) {
    const components = templateComponents(message.template, message.variables);
    return {
      ...base,
      type: 'template',
      template: { name: message.template.name, language: { code: message.template.language ?? 'en_US' }, ...(components.length > 0 ? { components } : {}) },
    };
  }
  const [item] = message.mediaItems;
  if (item) {
    const type = whatsappMediaType(item);
    const caption = message.text && type !== 'audio' ? { caption: message.text } : {};
    const filename = type === 'document' ? documentName(item) : undefined;
    return { ...base, type, [type]: { link: item.url, ...caption, ...(filename ? { filename } : {}) } };
  }
  return { ...base, type: 'text', text: { body: message.text ?? '', preview_url: false } };
}

/** WhatsApp over Meta's Cloud API (`POST /{version}/{phone-number-id}/messages`). */
export function metaProvider(config: WhatsAppSettings): MessageProvider {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/${config.apiVersion}/${config.phoneNumberId}/messages`;
  return {
    name: 'meta',
    channels: ['whatsapp'],
    rateLimit: config.rateLimit,
    ambiguous: config.ambiguous,
    secrets: [config.accessToken, ...(config.appSecret ? [config.appSecret] : []), ...(config.verifyToken ? [config.verifyToken] : [])],
    gateKey: () => `meta:${config.phoneNumberId}`,
    sender: () => config.phoneNumberId,
    validate(message) {
      if (message.template && 'contentSid' in message.template) return 'a Twilio Content template ({ contentSid }) cannot go through the WhatsApp Cloud API; use { name, language }';
      return whatsappMediaProblem(message);
    },
    async send(message: OutgoingMessage, ctx: ProviderContext): Promise<SendResult> {
      const result = await request(
        url,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${config.accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(metaBody(message)),
        },
        { timeout: config.timeout, signal: ctx.signal },
      );
      if (result.kind === 'not_sent') return { outcome: 'retry', code: null, message: result.error };
      if (result.kind === 'maybe_sent') return { outcome: 'ambiguous', code: null, message: result.error };
      const { status, json, headers } = result.reply;
      const data = (json ?? {}) as { messages?: Array<{ id?: string }>; error?: { code?: number; message?: string; error_data?: { details?: string } } };
      const wamid = data.messages?.[0]?.id;
      if (status >= 200 && status < 300 && typeof wamid === 'string') return { outcome: 'ok', providerMessageId: wamid };
      const err = data.error;
      const detail = [err?.message, err?.error_data?.details].filter(Boolean).join(': ');
      const c = classifyMeta({ status, code: typeof err?.code === 'number' ? err.code : null, message: detail || null, retryAfter: headers.get('retry-after') });
      return { outcome: c.outcome, code: c.code, message: c.message, retryAfter: c.retryAfter, pauseGate: c.pauseGate, suppress: c.suppress };
    },
  };
}
