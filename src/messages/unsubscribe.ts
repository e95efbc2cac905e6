/**
 * One-click unsubscribe (RFC 8058): a signed URL per recipient and sender in
 * `List-Unsubscribe`, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and
 * the endpoint that applies it. A `GET` (a person, or a link scanner) only shows a
 * confirmation form; the `POST` suppresses.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { safeEqual } from './signatures.js';
import { escapeHtml } from './template.js';
import { problem, readBody } from './webhooks/body.js';

/** Unsubscribe settings. */
export interface UnsubscribeSettings {
  url: string;
  secret: string;
}

/** Who a link unsubscribes: a recipient on a channel, from one sender. */
export interface UnsubscribeTarget {
  channel: string;
  recipient: string;
  sender: string;
}

const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64url');
const unb64 = (v: string) => Buffer.from(v, 'base64url').toString('utf8');

function signature(secret: string, t: UnsubscribeTarget): string {
  return createHmac('sha256', secret).update(`v1\n${t.channel}\n${t.recipient}\n${t.sender}`).digest('base64url').slice(0, 32);
}

/** The signed unsubscribe URL of a recipient for one sender. */
export function unsubscribeUrl(cfg: UnsubscribeSettings, t: UnsubscribeTarget): string {
  const u = new URL(cfg.url);
  u.searchParams.set('c', t.channel);
  u.searchParams.set('r', b64(t.recipient));
  u.searchParams.set('s', b64(t.sender));
  u.searchParams.set('t', signature(cfg.secret, t));
  return u.toString();
}

/** The two RFC 8058 headers for a recipient. */
export function listUnsubscribeHeaders(cfg: UnsubscribeSettings, t: UnsubscribeTarget): Record<string, string> {
  return { 'List-Unsubscribe': `<${unsubscribeUrl(cfg, t)}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

/** The target of a signed link, or `null` when the signature does not match. */
export function verifyUnsubscribe(cfg: UnsubscribeSettings, q: URLSearchParams): UnsubscribeTarget | null {
  const channel = q.get('c');
  const r = q.get('r');
  const s = q.get('s');
  const t = q.get('t');
  if (!channel || !r || s === null || !t) return null;
  const target = { channel, recipient: unb64(r), sender: unb64(s) };
  return safeEqual(signature(cfg.secret, target), t) ? target : null;
}

/** What the endpoint needs. */
export interface UnsubscribeDeps {
  config: UnsubscribeSettings | undefined;
  suppress(t: UnsubscribeTarget): Promise<void>;
  logger: Logger;
}

const page = (title: string, body: string) =>
  new Response(`<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${title}</title></head><body>${body}</body></html>`, {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
  });

/**
 * `GET …/unsubscribe?c&r&s&t` shows a confirmation form; `POST` (the mail client's
 * one-click `List-Unsubscribe=One-Click`, or the form) suppresses the recipient for
 * that sender. A link whose signature does not match is 403.
 */
export async function unsubscribeEndpoint(request: Request, deps: UnsubscribeDeps): Promise<Response> {
  if (!deps.config) return problem(404, 'unsubscribe links are not configured (providers.unsubscribe)');
  if (request.method !== 'GET' && request.method !== 'POST') return problem(405, 'unsubscribe is GET (confirm) or POST (one-click)', { allow: 'GET, POST' });
  const url = new URL(request.url);
  const target = verifyUnsubscribe(deps.config, url.searchParams);
  if (!target) return problem(403, 'this unsubscribe link is not valid');
  if (request.method === 'GET') {
    return page(
      'Unsubscribe',
      `<form method="post" action="${escapeHtml(url.pathname + url.search)}"><p>Stop messages from ${escapeHtml(target.sender || 'us')} to ${escapeHtml(target.recipient)}?</p><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  }
  if ((await readBody(request, 4096)) === null) return problem(413, 'the body is larger than 4096 bytes');
  await deps.suppress(target);
  deps.logger.info({ channel: target.channel }, 'recipient unsubscribed by one-click link');
  return page('Unsubscribed', `<p>${escapeHtml(target.recipient)} will get no more messages from ${escapeHtml(target.sender || 'us')}.</p>`);
}
