/**
 * Messaging's HTTP endpoints and provider webhooks, contributed to
 * `pgcourier/http` through the plugin's `extensions.http`.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { readBody } from '../http/body.js';
import { clientAddresses } from '../http/node.js';
import { HttpProblem } from '../http/problem.js';
import { defineRoute, type HttpExtension, type Method, type Route, type RouteContext } from '../http/route.js';
import { batchListSchema, batchSchema, messageSchema, messageSentSchema, messageStatusSchema, opaqueIdSchema, sendBulkBody, sendMessageBody } from '../http/schemas.js';
import type { Messages } from './messages.js';

const idParams = z.object({ id: opaqueIdSchema }).strict();
/** Operator actions take no options: an empty JSON object, or no body. */
const noOptions = z.object({}).strict();
const reconcileSchema = z.object({
  outcome: z
    .enum(['found', 'sent', 'not_found', 'expired', 'unavailable', 'unsupported'])
    .describe(
      '`found`: the provider has it (now `sent`); `sent`: the provider had not received it and the idempotent re-post sent it now (now `sent`); `not_found`: it does not have it (resend is safe); `expired`: past the provider\'s idempotency window, asking could send a second copy; `unavailable`: no usable answer now, try again; `unsupported`: the provider cannot look messages up. All but `found` and `sent` leave the message `unknown`.',
    ),
  providerMessageId: z.string().optional().describe("The provider's id (`found`, `sent`)."),
  detail: z.string().optional().describe("The provider's words or the reason (`expired`, `unavailable`, `unsupported`; the last delivery event for `found` when known)."),
});
const dsnAppliedSchema = z.object({
  messageId: z.string().describe('The message the report is about.'),
  recipients: z.int().describe('Entries of the report applied to it (those for its own recipient).'),
});
/** The message the documented examples of the operator actions act on (an `unknown` message in the test fixture). */
export const EXAMPLE_UNKNOWN_MESSAGE = '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a';
/** Media types `/webhooks/dsn` takes. */
const DSN_TYPES = ['message/rfc822', 'multipart/report', 'message/delivery-status', 'message/global-delivery-status'];

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
      operationId: 'reconcileMessage',
      method: 'POST',
      path: '/messages/{id}/reconcile',
      tag: 'messages',
      summary: 'Reconcile an unknown message',
      description: 'Asks the provider whether a message whose outcome is `unknown` (the request may have arrived) was accepted: when it was, the message becomes `sent` with the provider\'s id; when it was not, it stays `unknown` and may be resent.',
      access: 'bearer',
      params: idParams,
      body: noOptions,
      bodyRequired: false,
      responses: {
        200: { description: 'What the provider said.', schema: reconcileSchema, example: { outcome: 'found', providerMessageId: 'SM0123456789abcdef0123456789abcdef' } },
        404: { description: 'No such message.' },
        409: { description: 'The message is not `unknown`.' },
      },
      example: { params: { id: EXAMPLE_UNKNOWN_MESSAGE } },
      async handle({ params }) {
        return { status: 200, body: await messages.reconcile(params.id) };
      },
    }),
    defineRoute({
      operationId: 'resendMessage',
      method: 'POST',
      path: '/messages/{id}/resend',
      tag: 'messages',
      summary: 'Resend a message',
      description: 'Sends an `unknown`, `failed` or `undelivered` message again as a new linked message (`relation: resend`, same content and recipient; in the same batch); returns the new message\'s id.',
      access: 'bearer',
      params: idParams,
      body: noOptions,
      bodyRequired: false,
      responses: {
        201: { description: 'The new message, queued.', schema: messageSentSchema, example: { id: '7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9' } },
        404: { description: 'No such message.' },
        409: { description: 'The message is not `unknown`, `failed` or `undelivered`, or was already followed up (resend that one).' },
      },
      example: { params: { id: EXAMPLE_UNKNOWN_MESSAGE } },
      async handle({ params, options }) {
        const id = await messages.resend(params.id);
        return { status: 201, body: { id }, headers: { location: `${options.basePath}/messages/${encodeURIComponent(id)}` } };
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

/**
 * `POST /webhooks/dsn`: a bounce pipe hands over a Delivery Status Notification
 * (RFC 3464) with the management token. Not a provider's signed callback, so it
 * needs the bearer token like the operator endpoints.
 */
function dsnRoute(messages: Messages): Route {
  return defineRoute({
    operationId: 'applyDsnReport',
    method: 'POST',
    path: '/webhooks/dsn',
    tag: 'webhooks',
    summary: 'Delivery Status Notification (bounce) intake',
    description:
      'A bounce or delay report (RFC 3464) from the mail server\'s bounce pipe, with the bearer token. The body is the whole bounce email (`Content-Type: message/rfc822`), the report itself (`multipart/report; report-type=delivery-status; boundary=…`) or only its `message/delivery-status` part. The message is found by the returned `Message-ID`, `X-Courier-Message-Id` or `Original-Envelope-Id`, or named by `?messageId=`. `failed` makes it `undelivered` (a mailbox code such as 5.1.1 also suppresses the recipient); `delayed` and `delivered` are recorded; a report applied twice changes nothing. The body may be at most `webhookBodyLimit` bytes.',
    access: 'bearer',
    rawBody: DSN_TYPES,
    query: z.object({ messageId: z.string().max(200, 'must be at most 200 characters').optional().describe('The message the report is about, when the report does not name it.') }).strict(),
    responses: {
      200: { description: 'Applied (or already applied).', schema: dsnAppliedSchema, example: { messageId: '3f2b8c1e-9a0d-4e57-b6a1-0c2d4e6f8a90', recipients: 1 } },
      400: { description: 'Not a delivery status notification, or it names no message; `field` is `body` or `messageId`.' },
      404: { description: 'The report names no stored message.' },
      413: { description: 'Body larger than `webhookBodyLimit`.' },
      415: { description: `\`Content-Type\` is not one of ${DSN_TYPES.join(', ')}.` },
    },
    async handle({ request, query, options }) {
      const type = request.headers.get('content-type');
      if (!DSN_TYPES.includes(type?.split(';')[0]?.trim().toLowerCase() ?? '')) {
        throw new HttpProblem('unsupported-media-type', `"body" must be a delivery status notification sent as ${DSN_TYPES.join(', ')}`, { field: 'body' });
      }
      const raw = await readBody(request, options.webhookBodyLimit);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        throw new HttpProblem('validation', '"body" must be text (UTF-8)', { field: 'body' });
      }
      let applied: Awaited<ReturnType<Messages['applyDsn']>>;
      try {
        applied = await messages.applyDsn(text, { contentType: type as string, ...(query.messageId !== undefined ? { messageId: query.messageId } : {}) });
      } catch (err) {
        if (err instanceof ValidationError) throw new HttpProblem('validation', `"${err.field === 'raw' ? 'body' : err.field}" ${err.expected}`, { field: err.field === 'raw' ? 'body' : err.field });
        throw err;
      }
      if (!applied.messageId) throw new HttpProblem('validation', '"messageId" is required: the report names no message of ours (give ?messageId=)', { field: 'messageId' });
      if (!applied.found) throw new HttpProblem('not-found', 'no message has the id the report names', { field: 'messageId' });
      return { status: 200, body: { messageId: applied.messageId, recipients: applied.recipients } };
    },
  });
}

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
    dsnRoute(messages),
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
