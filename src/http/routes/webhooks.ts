import { readBody } from '../body.js';
import { clientAddresses } from '../node.js';
import type { Method, Route, RouteContext } from '../route.js';

const providers = {
  twilio: 'Twilio status callback (form-encoded), checked by `X-Twilio-Signature`.',
  meta: 'WhatsApp Cloud API webhook: `GET` verification handshake, `POST` events checked by `X-Hub-Signature-256`.',
  emailjs: 'EmailJS-compatible form submission (JSON or multipart); browser posts or Standard Webhooks signatures.',
} as const;

type Provider = keyof typeof providers;

/**
 * Forwards the request to `courier.messages.webhooks[provider]` with its body read
 * under the webhook size limit, the URL, method and headers untouched (signatures
 * are computed over them). No bearer token: the provider's signature decides.
 */
async function forward(ctx: RouteContext<unknown, unknown, unknown>, provider: Provider): Promise<Response> {
  const { request } = ctx;
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const raw = hasBody ? await readBody(request, ctx.options.webhookBodyLimit) : undefined;
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  headers.delete('transfer-encoding');
  if (raw) headers.set('content-length', String(raw.byteLength));
  const forwarded = new Request(request.url, { method: request.method, headers, body: raw, signal: request.signal });
  const forwardedFor = ctx.options.trustProxy ? request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined;
  const ip = clientAddresses.get(request) ?? forwardedFor;
  const response = await (provider === 'emailjs' ? ctx.call('messages.webhooks.emailjs', forwarded, ip ? { ip } : {}) : ctx.call(`messages.webhooks.${provider}`, forwarded));
  if (!(response instanceof Response)) throw new Error(`messages.webhooks.${provider} did not return a Response`);
  return response;
}

function webhook(operationId: string, provider: Provider, path: string, method: Method, summary: string): Route {
  return {
    operationId,
    method,
    path,
    tag: 'webhooks',
    summary,
    description: providers[provider],
    access: 'webhook',
    requires: `messages.webhooks.${provider}`,
    responses: {
      200: { description: 'Accepted (or a duplicate, applied once); the provider\'s expected reply.', contentType: 'text/plain' },
      401: { description: 'Missing, forged or expired signature.' },
      403: { description: 'Refused (e.g. unknown EmailJS public key, wrong verify token).' },
      404: { description: 'Messaging is not configured for this provider.' },
      413: { description: 'Body larger than `webhookBodyLimit`.' },
    },
    handle: (ctx) => forward(ctx, provider),
  };
}

/** Provider webhooks, forwarded to messaging's web-standard handlers. */
export const webhookRoutes: Route[] = [
  webhook('twilioWebhook', 'twilio', '/webhooks/twilio', 'POST', 'Twilio status callback'),
  webhook('metaWebhookVerify', 'meta', '/webhooks/meta', 'GET', 'WhatsApp webhook verification'),
  webhook('metaWebhook', 'meta', '/webhooks/meta', 'POST', 'WhatsApp status and message webhook'),
  webhook('emailjsWebhook', 'emailjs', '/webhooks/emailjs', 'POST', 'EmailJS form submission'),
  webhook('emailjsWebhookPreflight', 'emailjs', '/webhooks/emailjs', 'OPTIONS', 'CORS preflight of EmailJS submissions'),
  webhook('emailjsSend', 'emailjs', '/api/v1.0/email/send', 'POST', 'EmailJS-compatible send (point `@emailjs/browser` `origin` here)'),
  webhook('emailjsSendPreflight', 'emailjs', '/api/v1.0/email/send', 'OPTIONS', 'CORS preflight of EmailJS-compatible sends'),
  webhook('emailjsSendForm', 'emailjs', '/api/v1.0/email/send-form', 'POST', 'EmailJS-compatible multipart form send'),
  webhook('emailjsSendFormPreflight', 'emailjs', '/api/v1.0/email/send-form', 'OPTIONS', 'CORS preflight of EmailJS-compatible form sends'),
];
