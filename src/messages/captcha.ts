/**
 * Server-side CAPTCHA verification shared by Cloudflare Turnstile, hCaptcha and
 * Google reCAPTCHA: `POST siteverify` with `secret`, `response` and `remoteip`
 * form-encoded, answered `{ success, hostname, score?, "error-codes" }`.
 */
import { request } from './providers/http.js';

/** Where each service verifies tokens, and the form field its widget fills. */
export const CAPTCHA_SERVICES = {
  turnstile: { url: 'https://challenges.cloudflare.com/turnstile/v0/siteverify', field: 'cf-turnstile-response' },
  hcaptcha: { url: 'https://api.hcaptcha.com/siteverify', field: 'h-captcha-response' },
  recaptcha: { url: 'https://www.google.com/recaptcha/api/siteverify', field: 'g-recaptcha-response' },
} as const;

/** CAPTCHA settings (parsed). */
export interface CaptchaSettings {
  provider: keyof typeof CAPTCHA_SERVICES;
  secret: string;
  verifyUrl?: string | undefined;
  field?: string | undefined;
  minScore?: number | undefined;
  hostnames?: string[] | undefined;
  timeout: number;
}

/** The outcome of a verification: passed, failed (with the service's error codes), or the service could not be asked. */
export type CaptchaResult = { ok: true } | { ok: false; reason: string; unavailable?: boolean };

/** The form field holding the token. */
export function captchaField(c: CaptchaSettings): string {
  return c.field ?? CAPTCHA_SERVICES[c.provider].field;
}

/** Asks the service whether `token` was solved (once: tokens are single-use). */
export async function verifyCaptcha(c: CaptchaSettings, token: string, ip: string | null): Promise<CaptchaResult> {
  const form = new URLSearchParams({ secret: c.secret, response: token });
  if (ip) form.set('remoteip', ip);
  const result = await request(
    c.verifyUrl ?? CAPTCHA_SERVICES[c.provider].url,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() },
    { timeout: c.timeout },
  );
  if (result.kind !== 'reply' || result.reply.status >= 500) return { ok: false, reason: 'verification service unavailable', unavailable: true };
  const data = (result.reply.json ?? {}) as { success?: unknown; hostname?: unknown; score?: unknown; 'error-codes'?: unknown };
  if (data.success !== true) return { ok: false, reason: `not solved${Array.isArray(data['error-codes']) ? ` (${data['error-codes'].map(String).join(', ').slice(0, 200)})` : ''}` };
  if (c.minScore !== undefined && !(typeof data.score === 'number' && data.score >= c.minScore)) return { ok: false, reason: 'score below minScore' };
  if (c.hostnames && !(typeof data.hostname === 'string' && c.hostnames.includes(data.hostname))) return { ok: false, reason: 'solved on another host' };
  return { ok: true };
}
