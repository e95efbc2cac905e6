/**
 * Messaging's HTTP endpoints and provider webhooks, contributed to
 * `pgcourier/http` through the plugin's `extensions.http`.
 */
import { z } from 'zod';
import { readBody } from '../http/body.js';
import { clientAddresses } from '../http/node.js';
import { HttpProblem } from '../http/problem.js';
import { defineRoute, type HttpExtension, type Method, type Route, type RouteContext } from '../http/route.js';
import { batchListSchema, batchSchema, messageSchema, messageSentSchema, messageStatusSchema, opaqueIdSchema, sendBulkBody, sendMessageBody } from '../http/schemas.js';
import type { Messages } from './messages.js';

const idParams = z.object({ id: opaqueIdSchema }).strict();

/** Message queue endpoints: status, send, read, batches. */
function messageRoutes(messages: Messages): Route[] {
  return [
    defineRoute({
      operationId: 'getMessageStatus',
      method: 'GET',
      path: '/messages/status',
      tag: 'messages',
      summary: 'Message queue status',
      description: 'Message counts per channel and status.',
      access: 'bearer',
      responses: { 200: { description: 'Counts.', schema: messageStatusSchema } },
      async handle() {
        return { status: 200, body: await messages.status() };
      },
    }),
    defineRoute({
      operationId: 'sendMessage',
      method: 'POST',
      path: '/messages',
      tag: 'messages',
      summary: 'Send a message',
      description: 'Records the message and enqueues its send; returns its id.',
      access: 'bearer',
      body: sendMessageBody,
      responses: { 201: { description: 'Queued.', schema: messageSentSchema, example: { id: '3f2b8c1e-9a0d-4e57-b6a1-0c2d4e6f8a90' } } },
      example: { body: { channel: 'sms', to: '+15555550100', body: 'Your code is 123456' } },
      async handle({ body, options }) {
        const id = await messages.send(body);
        return { status: 201, body: { id }, headers: { location: `${options.basePath}/messages/${encodeURIComponent(id)}` } };
      },
    }),
    defineRoute({
      operationId: 'getMessage',
      method: 'GET',
      path: '/messages/{id}',
      tag: 'messages',
      summary: 'Get a message',
      access: 'bearer',
      params: idParams,
      responses: { 200: { description: 'The message.', schema: messageSchema }, 404: { description: 'No such message.' } },
      async handle({ params }) {
        const message = await messages.get(params.id);
        if (!message) throw new HttpProblem('not-found', 'no message has this id', { field: 'id' });
        return { status: 200, body: message };
      },
    }),
    defineRoute({
      operationId: 'listBatches',
      method: 'GET',
      path: '/batches',
      tag: 'messages',
      summary: 'Bulk-send batches',
      description: 'Batches with their progress, newest first.',
      access: 'bearer',
      responses: { 200: { description: 'Batches.', schema: batchListSchema } },
      async handle() {
        return { status: 200, body: { batches: await messages.listBatches() } };
      },
    }),
    defineRoute({
      operationId: 'sendBulk',
      method: 'POST',
      path: '/batches',
      tag: 'messages',
      summary: 'Start a bulk send',
      description: 'Records one message per recipient in a batch and enqueues their sends, paced by the per-channel rate limits; returns the batch id.',
      access: 'bearer',
      body: sendBulkBody,
      responses: { 201: { description: 'Batch created.', schema: messageSentSchema, example: { id: '0b7c2f3e-6a51-4c1e-9d2a-1f0e8c9b7a65' } } },
      example: { body: { channel: 'sms', name: 'spring-sale', template: 'Hi {{name}}, 20% off today', recipients: [{ to: '+15555550101', variables: { name: 'Ana' } }, { to: '+15555550102', variables: { name: 'Ben' } }] } },
      async handle({ body, options }) {
        const id = await messages.sendBulk(body);
        return { status: 201, body: { id }, headers: { location: `${options.basePath}/batches/${encodeURIComponent(id)}` } };
      },
    }),
    defineRoute({
      operationId: 'getBatch',
      method: 'GET',
      path: '/batches/{id}',
      tag: 'messages',
      summary: 'Get a bulk-send batch',
      access: 'bearer',
      params: idParams,
      responses: { 200: { description: 'The batch and its progress.', schema: batchSchema }, 404: { description: 'No such batch.' } },
      async handle({ params }) {
        const batch = await messages.getBatch(params.id);
        if (!batch) throw new HttpProblem('not-found', 'no batch has this id', { field: 'id' });
        return { status: 200, body: batch };
      },
    }),
  ];
}

const providers = {
  twilio: 'Twilio status callbacks and inbound messages (form-encoded), checked by `X-Twilio-Signature` (HMAC-SHA1 with the auth token, or a Webhooks Setting\'s HMAC-SHA256 when `X-Twilio-Webhooks-Signature-Settings` is present). Inbound STOP / START / HELP are applied.',
  meta: 'WhatsApp Cloud API webhook: `GET` verification handshake, `POST` statuses and inbound messages checked by `X-Hub-Signature-256`.',
  unsubscribe: 'One-click unsubscribe (RFC 8058) from the signed `List-Unsubscribe` URL of an email: `GET` shows a confirmation form (link scanners unsubscribe nobody), `POST` (`List-Unsubscribe=One-Click`) suppresses the recipient for that sender.',
  resend: 'Resend delivery events (delivered, bounced, complained, delivery_delayed, opened), checked by their Svix signature (`svix-id`, `svix-timestamp`, `svix-signature`).',
  emailjs: 'EmailJS-compatible form submission (JSON or multipart): browser posts from allowed origins (CAPTCHA-verified when configured), or Standard Webhooks signatures, or the private key.',
} as const;

type Provider = keyof typeof providers;

/**
 * Hands the request to `messages.webhooks[provider]` with its body read under the
 * webhook size limit, the URL, method and headers untouched (signatures are
 * computed over them). No bearer token: the provider's signature decides.
 */
async function forward(messages: Messages, ctx: RouteContext<unknown, unknown, unknown>, provider: Provider): Promise<Response> {
  const { request } = ctx;
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const raw = hasBody ? await readBody(request, ctx.options.webhookBodyLimit) : undefined;
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  headers.delete('transfer-encoding');
  if (raw) headers.set('content-length', String(raw.byteLength));
  const forwarded = new Request(request.url, { method: request.method, headers, body: raw, signal: request.signal });
  if (provider === 'unsubscribe') return messages.webhooks.unsubscribe(forwarded);
  if (provider !== 'emailjs') return messages.webhooks[provider](forwarded, { maxBytes: ctx.options.webhookBodyLimit });
  const forwardedFor = ctx.options.trustProxy ? request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined;
  const ip = clientAddresses.get(request) ?? forwardedFor;
  return messages.webhooks.emailjs(forwarded, ip ? { ip } : {});
}

type Responses = Route['responses'];

const common = {
  401: { description: 'Missing, forged or expired signature.' },
  404: { description: 'Messaging is not configured for this provider.' },
  413: { description: 'Body larger than `webhookBodyLimit` (EmailJS: `emailjs.maxBytes`).' },
} satisfies Responses;

const replies: Record<string, Responses> = {
  twilio: { 200: { description: 'Accepted (or a duplicate, applied once): empty TwiML, as Twilio expects.', contentType: 'text/xml' }, ...common },
  metaVerify: { 200: { description: 'The `hub.challenge` value, echoed.', contentType: 'text/plain' }, 403: { description: '`hub.verify_token` does not match.' }, 404: common[404] },
  meta: { 200: { description: 'Accepted (or a duplicate, applied once): `EVENT_RECEIVED`.', contentType: 'text/plain' }, 400: { description: 'The body is not JSON.' }, ...common },
  resend: { 200: { description: 'Accepted (or a duplicate, applied once): `OK`.', contentType: 'text/plain' }, 400: { description: 'The body is not JSON.' }, ...common },
  unsubscribeGet: { 200: { description: 'A confirmation form.', contentType: 'text/html' }, 403: { description: 'The link\'s signature does not match.' }, 404: { description: 'Unsubscribe links are not configured.' } },
  unsubscribePost: { 200: { description: 'Unsubscribed (also when already).', contentType: 'text/html' }, 403: { description: 'The link\'s signature does not match.' }, 404: { description: 'Unsubscribe links are not configured.' } },
  emailjs: {
    200: { description: 'Accepted, a duplicate, or dropped by the honeypot: `OK`, as EmailJS answers.', contentType: 'text/plain' },
    400: { description: 'Malformed body; `detail` names the parameter.' },
    ...common,
    403: { description: 'Unknown public key, Origin not allowed, private key missing, or CAPTCHA not solved.' },
    429: { description: 'Per-IP or global submission limit reached; `Retry-After` says when to try again.' },
    503: { description: 'The CAPTCHA service could not be reached; `Retry-After` says when to try again.' },
  },
  emailjsPreflight: { 204: { description: 'CORS preflight accepted for an allowed Origin.' }, 403: { description: 'Origin not allowed.' }, 404: common[404] },
};

/** Provider webhooks, handed to messaging's web-standard handlers. Errors are `application/problem+json`. */
function webhookRoutes(messages: Messages): Route[] {
  const webhook = (operationId: string, provider: Provider, path: string, method: Method, summary: string, responses: Responses): Route => ({
    operationId,
    method,
    path,
    tag: 'webhooks',
    summary,
    description: providers[provider],
    access: 'webhook',
    responses,
    handle: (ctx) => forward(messages, ctx, provider),
  });
  return [
    webhook('twilioWebhook', 'twilio', '/webhooks/twilio', 'POST', 'Twilio status callback and inbound message', replies.twilio as Responses),
    webhook('metaWebhookVerify', 'meta', '/webhooks/meta', 'GET', 'WhatsApp webhook verification', replies.metaVerify as Responses),
    webhook('metaWebhook', 'meta', '/webhooks/meta', 'POST', 'WhatsApp status and message webhook', replies.meta as Responses),
    webhook('unsubscribeConfirm', 'unsubscribe', '/unsubscribe', 'GET', 'Unsubscribe confirmation page', replies.unsubscribeGet as Responses),
    webhook('unsubscribeOneClick', 'unsubscribe', '/unsubscribe', 'POST', 'One-click unsubscribe (RFC 8058)', replies.unsubscribePost as Responses),
    webhook('resendWebhook', 'resend', '/webhooks/resend', 'POST', 'Resend delivery events', replies.resend as Responses),
    webhook('emailjsWebhook', 'emailjs', '/webhooks/emailjs', 'POST', 'EmailJS form submission', replies.emailjs as Responses),
    webhook('emailjsWebhookPreflight', 'emailjs', '/webhooks/emailjs', 'OPTIONS', 'CORS preflight of EmailJS submissions', replies.emailjsPreflight as Responses),
    webhook('emailjsSend', 'emailjs', '/api/v1.0/email/send', 'POST', 'EmailJS-compatible send (point `@emailjs/browser` `origin` here)', replies.emailjs as Responses),
    webhook('emailjsSendPreflight', 'emailjs', '/api/v1.0/email/send', 'OPTIONS', 'CORS preflight of EmailJS-compatible sends', replies.emailjsPreflight as Responses),
    webhook('emailjsSendForm', 'emailjs', '/api/v1.0/email/send-form', 'POST', 'EmailJS-compatible multipart form send', replies.emailjs as Responses),
    webhook('emailjsSendFormPreflight', 'emailjs', '/api/v1.0/email/send-form', 'OPTIONS', 'CORS preflight of EmailJS-compatible form sends', replies.emailjsPreflight as Responses),
  ];
}

/** What messaging contributes to `pgcourier/http`: its endpoints, webhooks and dashboard sections. */
export function messageHttpRoutes(messages: Messages): HttpExtension {
  return {
    routes: [...messageRoutes(messages), ...webhookRoutes(messages)],
    async overview() {
      const [batches, status] = await Promise.all([messages.listBatches(), messages.status()]);
      return { batches, messages: status };
    },
  };
}
