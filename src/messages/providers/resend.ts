import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { addressOf } from '../channels.js';
import { classifyResend } from '../classify.js';
import type { resendSchema } from '../config.js';
import { emailContentProblem } from '../content.js';
import { singleLine } from '../template.js';
import { request } from './http.js';
import type { MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './provider.js';

/** The Idempotency-Key Resend receives for a message: the same on every attempt. */
export function resendIdempotencyKey(messageId: string): string {
  return `pgcourier:${messageId}`;
}

/** How long Resend keeps an idempotency key: a repeat within it returns the original email's id and sends nothing. */
export const RESEND_IDEMPOTENCY_WINDOW = 86_400;

/**
 * Email over Resend's HTTP API (`POST /emails`) with an `Idempotency-Key` per
 * message; `GET /emails/{id}` looks a sent email up.
 */
export function resendProvider(config: z.output<typeof resendSchema>): MessageProvider {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/emails`;
  const keyHash = createHash('sha256').update(config.apiKey).digest('hex').slice(0, 12);
  return {
    name: 'resend',
    channels: ['email'],
    rateLimit: config.rateLimit,
    ambiguous: config.ambiguous,
    secrets: [config.apiKey],
    gateKey: () => `resend:${keyHash}`,
    sender: (m) => addressOf(m.from ?? config.from),
    validate: emailContentProblem,
    idempotencyWindow: RESEND_IDEMPOTENCY_WINDOW,
    async lookup(m, ctx) {
      // Resend finds emails by its own id only; without one, reconcile re-posts under the idempotency key instead.
      if (!m.providerMessageId) return null;
      const result = await request(
        `${url}/${encodeURIComponent(m.providerMessageId)}`,
        { method: 'GET', headers: { authorization: `Bearer ${config.apiKey}`, accept: 'application/json' } },
        { timeout: config.timeout, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      if (result.kind !== 'reply') return { failed: result.error };
      const { status, json } = result.reply;
      const data = (json ?? {}) as { id?: string; created_at?: string; last_event?: string; name?: string; message?: string };
      if (status === 404) return { found: false };
      if (status !== 200 || typeof data.id !== 'string') return { failed: `resend ${status}${data.name ? ` ${data.name}` : ''}: ${data.message ?? 'unexpected reply'}` };
      const createdAt = data.created_at ? new Date(data.created_at) : undefined;
      return {
        found: true,
        providerMessageId: data.id,
        ...(createdAt && !Number.isNaN(createdAt.getTime()) ? { createdAt } : {}),
        ...(typeof data.last_event === 'string' ? { lastEvent: data.last_event } : {}),
      };
    },
    async send(message: OutgoingMessage, ctx: ProviderContext): Promise<SendResult> {
      const body: Record<string, unknown> = {
        from: message.from ?? config.from,
        to: [message.to],
        subject: singleLine(message.subject ?? ''),
        headers: { ...message.email?.headers, 'X-Courier-Message-Id': message.id },
        tags: [{ name: 'message_id', value: message.id.replaceAll(/[^A-Za-z0-9_-]/g, '_') }],
      };
      if (message.email?.replyTo) body.reply_to = message.email.replyTo;
      if (message.email?.cc?.length) body.cc = message.email.cc;
      if (message.email?.bcc?.length) body.bcc = message.email.bcc;
      if (message.email?.attachments?.length) {
        body.attachments = message.email.attachments.map((a) => ({ filename: a.filename, content: a.content.replace(/\s+/g, ''), ...(a.contentType ? { content_type: a.contentType } : {}) }));
      }
      if (message.html !== null) body.html = message.html;
      if (message.text !== null) body.text = message.text;
      const result = await request(
        url,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${config.apiKey}`,
            'content-type': 'application/json',
            accept: 'application/json',
            'idempotency-key': resendIdempotencyKey(message.id),
          },
          body: JSON.stringify(body),
        },
        { timeout: config.timeout, signal: ctx.signal },
      );
      if (result.kind === 'not_sent') return { outcome: 'retry', code: null, message: result.error };
      if (result.kind === 'maybe_sent') return { outcome: 'ambiguous', code: null, message: result.error };
      const { status, json, headers } = result.reply;
      const data = (json ?? {}) as { id?: string; name?: string; message?: string };
      if (status >= 200 && status < 300 && typeof data.id === 'string') return { outcome: 'ok', providerMessageId: data.id };
      const c = classifyResend({ status, name: data.name ?? null, message: data.message ?? null, retryAfter: headers.get('retry-after') ?? headers.get('ratelimit-reset') });
      return { outcome: c.outcome, code: c.code, message: c.message, retryAfter: c.retryAfter };
    },
  };
}
