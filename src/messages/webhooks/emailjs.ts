import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { RateLimiter, RateLimitSpec } from '../../limits/rate-limiter.js';
import { captchaField, verifyCaptcha } from '../captcha.js';
import { type emailjsSchema, emailjsSubmissionSchema, type emailjsTaskSchema } from '../config.js';
import { safeEqual, verifyStandardWebhook } from '../signatures.js';
import { problem, readBody, text } from './body.js';

/** Payload of the `process_emailjs_submission` task. */
export type EmailJsTaskPayload = z.output<typeof emailjsTaskSchema>;

/** Extra facts about a request that a web-standard `Request` does not carry. */
export interface RequestInfo {
  /** The client's IP address (used for the per-IP rate limit of browser posts). */
  ip?: string;
}

/** What the EmailJS endpoint needs. */
export interface EmailJsEndpointDeps {
  config: z.output<typeof emailjsSchema> | undefined;
  rateLimiter(key: string, spec: RateLimitSpec): RateLimiter;
  enqueue(payload: EmailJsTaskPayload): Promise<void>;
  logger: Logger;
  /** Epoch seconds (tests pin it for the signed-mode vector). */
  now?: () => number;
}

/** Keys left out of the content hash used when a submission carries no id. */
const VOLATILE = new Set(['g-recaptcha-response', 'cf-turnstile-response', 'h-captcha-response', 'submission_id']);

function canonical(value: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(value).sort().map((k) => [k, value[k]]));
}

/**
 * The de-duplication key of a submission: the `webhook-id` of a signed post, else
 * `template_params.submission_id`, else a hash of the template and its fields
 * within the same UTC day.
 */
export function submissionKey(sub: { template_id: string; template_params: Record<string, unknown> }, webhookId: string | null, now = new Date()): string {
  if (webhookId) return `wh:${webhookId}`.slice(0, 300);
  const sid = sub.template_params.submission_id;
  if (typeof sid === 'string' && sid.length > 0) return `sid:${sid}`.slice(0, 300);
  const fields = Object.fromEntries(Object.entries(sub.template_params).filter(([k]) => !VOLATILE.has(k)));
  const hash = createHash('sha256').update(`${sub.template_id}\n${canonical(fields)}`).digest('hex');
  return `hash:${now.toISOString().slice(0, 10)}:${hash}`;
}

async function parseSubmission(raw: Uint8Array, contentType: string, path: string): Promise<unknown> {
  const isForm = path.endsWith('/send-form') || /multipart\/form-data|application\/x-www-form-urlencoded/i.test(contentType);
  if (!isForm) return JSON.parse(Buffer.from(raw).toString('utf8'));
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const out: Record<string, unknown> = {};
  const params: Record<string, string> = {};
  for (const [k, v] of form.entries()) {
    if (typeof v !== 'string') throw new Error('file uploads are not accepted');
    if (['service_id', 'template_id', 'user_id', 'accessToken', 'lib_version'].includes(k)) out[k] = v;
    else params[k] = v;
  }
  out.template_params = params;
  return out;
}

/**
 * The EmailJS-compatible endpoint: `POST …/api/v1.0/email/send` (JSON) and
 * `…/send-form` (multipart), as `@emailjs/browser` sends them when its `origin`
 * option points here, plus a Standard-Webhooks-signed server-to-server variant.
 * Browser posts need an allowed `Origin`, stay under a per-IP rate limit and,
 * with `captcha`, a token the CAPTCHA service confirms; server posts need a valid
 * signature or the private key (`accessToken`). A filled honeypot field is
 * answered `200 "OK"` and dropped; all submissions share a global limit. Only
 * verified submissions (CAPTCHA, signature, private key) may get an auto-reply.
 * Accepted and duplicate submissions both answer `200 "OK"`; errors are
 * `application/problem+json`.
 */
export async function emailjsEndpoint(request: Request, info: RequestInfo, deps: EmailJsEndpointDeps): Promise<Response> {
  const cfg = deps.config;
  if (!cfg) return problem(404, 'EmailJS submissions are not configured');
  const origin = request.headers.get('origin');
  const allowed = origin !== null && cfg.allowedOrigins.some((o) => new URL(o).origin === origin);
  const cors: Record<string, string> = allowed && origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};

  if (request.method === 'OPTIONS') {
    if (!allowed) return problem(403, 'this Origin may not post submissions');
    return new Response(null, {
      status: 204,
      headers: { ...cors, 'access-control-allow-methods': 'POST, OPTIONS', 'access-control-allow-headers': 'Content-Type', 'access-control-max-age': '600' },
    });
  }
  if (request.method !== 'POST') return problem(405, 'submissions are POST requests', { allow: 'POST, OPTIONS', ...cors });

  const ip = info.ip ?? (cfg.trustProxy ? request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined) ?? null;
  const signature = request.headers.get('webhook-signature');
  let mode: EmailJsTaskPayload['authMode'];
  if (signature !== null) mode = 'signed';
  else if (origin !== null) {
    if (!allowed) return problem(403, 'this Origin may not post submissions');
    const got = await deps.rateLimiter(`emailjs:ip:${ip ?? 'unknown'}`, cfg.rateLimit as RateLimitSpec).acquire();
    if (!got.granted) return problem(429, 'too many submissions from this address', { ...cors, 'retry-after': String(Math.max(1, Math.ceil(got.retryAfter))) });
    mode = 'browser';
  } else mode = 'private_key';

  const raw = await readBody(request, cfg.maxBytes);
  if (raw === null) return problem(413, `the body is larger than ${cfg.maxBytes} bytes`, cors);

  let webhookId: string | null = null;
  if (mode === 'signed') {
    if (!cfg.webhookSecret) return problem(401, 'signed submissions are not configured');
    webhookId = request.headers.get('webhook-id');
    const check = verifyStandardWebhook(
      cfg.webhookSecret,
      { id: webhookId, timestamp: request.headers.get('webhook-timestamp'), signature },
      raw,
      { now: deps.now?.() },
    );
    if (check !== 'ok') {
      deps.logger.warn({ webhook: 'emailjs', check }, 'rejected a signed EmailJS submission');
      return problem(401, check === 'expired' ? 'webhook-timestamp is outside the tolerance' : 'missing or invalid webhook-signature');
    }
  }

  let body: unknown;
  try {
    body = await parseSubmission(raw, request.headers.get('content-type') ?? '', new URL(request.url).pathname);
  } catch {
    return problem(400, 'The request body is not valid JSON or form data', cors);
  }
  const parsed = emailjsSubmissionSchema.safeParse(body);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.map(String).join('.') || 'body';
    return problem(400, `The ${field} parameter is invalid`, cors);
  }
  const { accessToken, ...submission } = parsed.data;
  if (mode === 'private_key' && !(cfg.privateKey && accessToken && safeEqual(accessToken, cfg.privateKey))) {
    return problem(403, 'API calls are disabled for non-browser applications');
  }
  if (!cfg.publicKeys.includes(submission.user_id)) return problem(403, 'The Public Key is invalid', cors);

  const params = { ...submission.template_params };
  // A hidden field only bots fill: answer as if accepted, keep nothing.
  const trap = cfg.honeypot === false ? undefined : params[cfg.honeypot];
  if (cfg.honeypot !== false) delete params[cfg.honeypot];
  if (trap !== undefined && trap !== null && trap !== '') {
    deps.logger.info({ webhook: 'emailjs' }, 'dropped a submission that filled the honeypot field');
    return text(200, 'OK', cors);
  }
  let verified = mode !== 'browser';
  if (mode === 'browser' && cfg.captcha) {
    const field = captchaField(cfg.captcha);
    const token = params[field];
    delete params[field];
    if (typeof token === 'string' && token.length > 0 && token.length <= 4096) {
      const check = await verifyCaptcha(cfg.captcha, token, ip);
      if (!check.ok && check.unavailable) return problem(503, 'the CAPTCHA could not be verified now; try again', { ...cors, 'retry-after': '5' });
      if (!check.ok) return problem(403, `CAPTCHA verification failed: ${check.reason}`, cors);
      verified = true;
    } else if (cfg.captcha.required) return problem(403, `a CAPTCHA token (${field}) is required`, cors);
  }
  const total = await deps.rateLimiter('emailjs:all', cfg.submissionLimit as RateLimitSpec).acquire();
  if (!total.granted) return problem(429, 'too many submissions; try again later', { ...cors, 'retry-after': String(Math.max(1, Math.ceil(total.retryAfter))) });

  const receivedAt = new Date();
  await deps.enqueue({
    submission: { ...submission, template_params: params },
    dedupeKey: submissionKey(submission, webhookId, receivedAt),
    authMode: mode,
    verified,
    origin,
    ip,
    receivedAt: receivedAt.toISOString(),
  });
  return text(200, 'OK', cors);
}
