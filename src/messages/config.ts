/**
 * zod schemas of the messaging options (`createCourier({ providers })`) and of the
 * messaging API's inputs. Messages name the field and never echo a value, so a
 * wrong token never reaches an error message or a log.
 */
import { z } from 'zod';
import { isTimeZone } from './quiet.js';

const nonEmpty = (what = 'a non-empty string') => z.string(`must be ${what}`).min(1, `must be ${what}`).max(4096, 'must be at most 4096 characters');
const secret = () => z.string('must be a non-empty string (a secret)').min(1, 'must be a non-empty string (a secret)').max(4096, 'must be at most 4096 characters');
const httpUrl = (what: string) =>
  z
    .string(`must be ${what}`)
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    }, `must be ${what}`);
const seconds = (def: number) => z.number('must be a number of seconds').positive('must be a number of seconds > 0').max(86_400, 'must be at most 86400 seconds').default(def);

/** `'5/s'`, `'100/m'`, `'1000/h'` or `{ limit, per }` (checked again by the rate limiter). */
export const rateSpecSchema = z.union(
  [
    z
      .string()
      .regex(/^\d+\/[smh]$/, 'must look like "5/s"')
      .transform((v) => v as `${number}/${'s' | 'm' | 'h'}`),
    z.object({ limit: z.int().min(1), per: z.number().positive() }).strict(),
  ],
  'must be "N/s", "N/m", "N/h" or { limit, per }',
);

const ambiguous = z.enum(['unknown', 'retry'], 'must be "unknown" or "retry"');

/** SMTP (nodemailer) settings. */
export const smtpSchema = z
  .object({
    host: nonEmpty('a host name or address'),
    port: z.int('must be a port number').min(1, 'must be a port number').max(65_535, 'must be a port number').optional(),
    secure: z.boolean('must be true (implicit TLS, port 465) or false (STARTTLS)').optional(),
    requireTLS: z.boolean('must be a boolean').optional(),
    auth: z.object({ user: nonEmpty(), pass: secret() }, 'must be { user, pass }').strict().optional(),
    from: nonEmpty('a sender address'),
    name: nonEmpty('a host name for EHLO').optional(),
    tls: z
      .object({
        ca: z.union([z.string(), z.array(z.string())], 'must be a PEM string or an array of them').optional(),
        rejectUnauthorized: z.boolean('must be a boolean').optional(),
        servername: nonEmpty().optional(),
      })
      .strict()
      .optional(),
    timeout: seconds(30),
    rateLimit: rateSpecSchema.optional(),
    ambiguous: ambiguous.default('unknown'),
  })
  .strict();

/** Resend settings. */
export const resendSchema = z
  .object({
    apiKey: secret(),
    from: nonEmpty('a sender address'),
    baseUrl: httpUrl('an http(s) URL').default('https://api.resend.com'),
    webhookSecret: secret().optional(),
    timeout: seconds(30),
    rateLimit: rateSpecSchema.optional(),
    // Safe: every request carries an Idempotency-Key.
    ambiguous: ambiguous.default('retry'),
  })
  .strict();

/** Twilio Programmable Messaging settings (SMS, MMS and the `whatsapp:` channel). */
export const twilioSchema = z
  .object({
    accountSid: z.string('must be an account SID (AC…)').regex(/^AC[0-9a-zA-Z]{8,64}$/, 'must be an account SID (AC…)'),
    authToken: secret(),
    from: nonEmpty('a phone number or sender id').optional(),
    messagingServiceSid: z.string('must be a messaging service SID (MG…)').regex(/^MG[0-9a-zA-Z]{8,64}$/, 'must be a messaging service SID (MG…)').optional(),
    whatsappFrom: nonEmpty('a WhatsApp sender (+E.164)').optional(),
    baseUrl: httpUrl('an http(s) URL').default('https://api.twilio.com'),
    statusCallback: httpUrl('the public http(s) URL of the Twilio status webhook').optional(),
    webhookSigningKey: secret().optional(),
    timeout: seconds(30),
    rateLimit: rateSpecSchema.optional(),
    ambiguous: ambiguous.default('unknown'),
  })
  .strict()
  .refine((v) => v.from !== undefined || v.messagingServiceSid !== undefined, { message: 'must include from or messagingServiceSid', path: ['from'] });

/** Meta WhatsApp Cloud API settings. */
export const whatsappSchema = z
  .object({
    phoneNumberId: z.string('must be a phone number id (digits)').regex(/^\d{1,32}$/, 'must be a phone number id (digits)'),
    accessToken: secret(),
    appSecret: secret().optional(),
    verifyToken: secret().optional(),
    baseUrl: httpUrl('an http(s) URL').default('https://graph.facebook.com'),
    apiVersion: z.string('must look like "v24.0"').regex(/^v\d+\.\d+$/, 'must look like "v24.0"').default('v24.0'),
    timeout: seconds(30),
    rateLimit: rateSpecSchema.optional(),
    ambiguous: ambiguous.default('unknown'),
  })
  .strict();

/** EmailJS-compatible submission endpoint settings. */
export const emailjsSchema = z
  .object({
    publicKeys: z.array(nonEmpty(), 'must be an array of public keys').min(1, 'must list at least one public key'),
    privateKey: secret().optional(),
    webhookSecret: secret().optional(),
    allowedOrigins: z.array(httpUrl('an origin such as https://example.com'), 'must be an array of origins').default([]),
    rateLimit: rateSpecSchema.default('5/m'),
    trustProxy: z.boolean('must be a boolean').default(false),
    maxBytes: z.int('must be an integer').min(1024).max(1_048_576).default(65_536),
    notify: z
      .object({ to: z.union([nonEmpty(), z.array(nonEmpty()).min(1)], 'must be an address or an array of them'), subject: nonEmpty().optional() })
      .strict()
      .optional(),
    autoReply: z
      .object({
        subject: nonEmpty(),
        text: nonEmpty(),
        html: nonEmpty().optional(),
        toField: nonEmpty().default('reply_to'),
        allowedRecipients: z.array(z.string().regex(/^([^\s@]+@)?[^\s@]+\.[^\s@]+$|^@[^\s@]+\.[^\s@]+$/, 'must be addresses or @domain patterns'), 'must be an array of addresses or @domain patterns').default([]),
        perRecipient: rateSpecSchema.default('2/h'),
        total: rateSpecSchema.default('100/h'),
      })
      .strict()
      .optional(),
    captcha: z
      .object({
        provider: z.enum(['turnstile', 'hcaptcha', 'recaptcha'], 'must be "turnstile", "hcaptcha" or "recaptcha"'),
        secret: secret(),
        verifyUrl: httpUrl('an http(s) URL').optional(),
        field: nonEmpty().optional(),
        required: z.boolean('must be a boolean').default(true),
        minScore: z.number('must be a number from 0 to 1').min(0).max(1).optional(),
        hostnames: z.array(nonEmpty(), 'must be an array of host names').optional(),
        timeout: seconds(5),
      })
      .strict()
      .optional(),
    honeypot: z.union([nonEmpty('a field name'), z.literal(false)], 'must be a field name or false').default('_honeypot'),
    submissionLimit: rateSpecSchema.default('600/h'),
  })
  .strict();

/** Everything under `createCourier({ providers })`. */
export const providersSchema = z
  .object({
    smtp: smtpSchema.optional(),
    resend: resendSchema.optional(),
    twilio: twilioSchema.optional(),
    whatsapp: whatsappSchema.optional(),
    emailjs: emailjsSchema.optional(),
    rateLimits: z
      .object({ email: rateSpecSchema.default('5/s'), sms: rateSpecSchema.default('3/s'), whatsapp: rateSpecSchema.default('20/s') })
      .catchall(rateSpecSchema)
      .default({ email: '5/s', sms: '3/s', whatsapp: '20/s' }),
    gates: z
      .object({
        margin: z.number('must be a number of seconds').min(0).max(10).default(0.2),
        configPause: seconds(60),
        maxWait: z.number('must be a number of seconds').min(0).max(60).default(5),
        maxDeferral: z.number('must be a number of seconds').positive('must be a number of seconds > 0').max(30 * 86_400, 'must be at most 2592000 seconds (30 days)').default(86_400),
        failoverAfter: z.number('must be a number of seconds').min(0).max(86_400).default(30),
      })
      .strict()
      .default({ margin: 0.2, configPause: 60, maxWait: 5, maxDeferral: 86_400, failoverAfter: 30 }),
    windowFromInbound: z.boolean('must be a boolean').default(false),
    failover: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must have channel names'),
        z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be provider names'), 'must be an array of provider names').min(1).max(5),
        'must map channels to provider names',
      )
      .optional(),
    unsubscribe: z
      .object({ url: httpUrl('the public http(s) URL of the unsubscribe endpoint'), secret: z.string('must be a secret of at least 16 characters').min(16, 'must be a secret of at least 16 characters').max(4096) })
      .strict()
      .optional(),
    deliveryRetries: z
      .object({
        max: z.int('must be an integer from 0 to 10').min(0).max(10).default(2),
        delay: z.number('must be a number of seconds').positive().max(86_400).default(300),
      })
      .strict()
      .default({ max: 2, delay: 300 }),
    sendTask: z
      .object({
        maxRetries: z.int('must be an integer >= 0').min(0).max(100).default(5),
        retryDelay: z.number('must be a number of seconds').min(0).max(86_400).default(10),
        timeout: seconds(120),
      })
      .strict()
      .default({ maxRetries: 5, retryDelay: 10, timeout: 120 }),
  })
  .strict();

/** Parsed provider settings (defaults applied). */
export type ParsedProviders = z.output<typeof providersSchema>;

/** `createCourier({ providers })`: settings of the message providers. Durations are seconds. */
export interface ProvidersConfig {
  /** SMTP submission: `port` 587 with `secure: false` (STARTTLS, required) or 465 with `secure: true`. */
  smtp?: SmtpConfig;
  /** Resend HTTP API. */
  resend?: ResendConfig;
  /** Twilio Programmable Messaging: SMS, MMS and WhatsApp (`whatsapp:` senders). */
  twilio?: TwilioConfig;
  /** Meta WhatsApp Cloud API. */
  whatsapp?: WhatsAppConfig;
  /** EmailJS-compatible form submission endpoint. */
  emailjs?: EmailJsConfig;
  /** Default send rates per channel, across all processes (email `5/s`, sms `3/s`, whatsapp `20/s`). */
  rateLimits?: Record<string, RateSpec>;
  /** Provider gate tuning. */
  gates?: GateConfig;
  /**
   * WhatsApp's 24-hour customer-service window from recorded inbound messages (set it
   * when customers' messages reach the Meta or Twilio webhook): a WhatsApp message
   * with a template `fallback` goes out as that template at once when the recipient
   * has not written in the last 24 hours, and as the session message when they have
   * (default false: the session message is tried and the provider's 131047 / 63016
   * brings the template).
   */
  windowFromInbound?: boolean;
  /**
   * Provider failover per channel, in order of preference, e.g. `{ email: ['smtp',
   * 'resend'] }`: while a provider is paused longer than `gates.failoverAfter`, its
   * messages go through the next open one (each request is a ledger entry naming
   * its provider).
   */
  failover?: Record<string, string[]>;
  /**
   * One-click unsubscribe (RFC 8058) for email: `url` is the public URL of
   * `pgcourier/http`'s `/unsubscribe` (e.g. `https://app.example/pgcourier/unsubscribe`),
   * `secret` signs each recipient's link (HMAC-SHA256). Bulk emails, and sends with
   * `unsubscribe: true`, then carry `List-Unsubscribe` and `List-Unsubscribe-Post`.
   */
  unsubscribe?: { url: string; secret: string };
  /**
   * New attempts for delivery failures a status webhook reports as transient
   * (Twilio 30001, 30003, 30008; Meta 1, 2, 131000, 131016, 133004, 131057): at most
   * `max` (default 2) linked messages, the first after `delay` seconds (default
   * 300), each next one after twice as long.
   */
  deliveryRetries?: { max?: number; delay?: number };
  /** Retry settings of the `messages.send` task (default 5 retries, backoff from 10 s, 120 s per run). */
  sendTask?: { maxRetries?: number; retryDelay?: number; timeout?: number };
}

/** A rate: `'5/s'`, `'100/m'`, `'1000/h'` or `{ limit, per }` (`per` in seconds). */
export type RateSpec = `${number}/${'s' | 'm' | 'h'}` | { limit: number; per: number };

/** SMTP settings. */
export interface SmtpConfig {
  /** Server host. */
  host: string;
  /** Port (default 587, or 465 with `secure`). */
  port?: number;
  /** `true`: TLS from the first byte (465). `false` (default): STARTTLS, required unless `requireTLS: false`. */
  secure?: boolean;
  /** Refuse to send without STARTTLS (default `true` when not `secure`). */
  requireTLS?: boolean;
  /** Credentials for AUTH. */
  auth?: { user: string; pass: string };
  /** Default sender, e.g. `"Acme <noreply@acme.test>"`; its domain names the Message-ID. */
  from: string;
  /** Host name announced in EHLO. */
  name?: string;
  /** TLS options: a private CA to trust, strictness, SNI name. */
  tls?: { ca?: string | string[]; rejectUnauthorized?: boolean; servername?: string };
  /** Seconds for connect, greeting and each reply (default 30). */
  timeout?: number;
  /** Send rate (default: the email channel's). */
  rateLimit?: RateSpec;
  /** "Maybe sent" policy (default `'unknown'`). */
  ambiguous?: 'unknown' | 'retry';
}

/** Resend settings. */
export interface ResendConfig {
  /** API key (`re_…`). */
  apiKey: string;
  /** Default sender. */
  from: string;
  /** API base URL (default `https://api.resend.com`). */
  baseUrl?: string;
  /** Signing secret (`whsec_…`) of the Resend webhook endpoint: delivery events are checked with it (Svix signatures). */
  webhookSecret?: string;
  /** Request timeout in seconds (default 30). */
  timeout?: number;
  /** Send rate (default: the email channel's). */
  rateLimit?: RateSpec;
  /** "Maybe sent" policy (default `'retry'`: safe with the Idempotency-Key). */
  ambiguous?: 'unknown' | 'retry';
}

/** Twilio settings. */
export interface TwilioConfig {
  /** Account SID (`AC…`). */
  accountSid: string;
  /** Auth token (also verifies status callbacks). */
  authToken: string;
  /** Sender number or id; required unless `messagingServiceSid` is set. */
  from?: string;
  /** Messaging service (`MG…`) used instead of `from`. */
  messagingServiceSid?: string;
  /** WhatsApp sender (default: `from`), sent as `whatsapp:+…`. */
  whatsappFrom?: string;
  /** API base URL (default `https://api.twilio.com`). */
  baseUrl?: string;
  /** Public URL of the status webhook; each message adds `?m=<id>`. */
  statusCallback?: string;
  /**
   * The SharedKey secret of a Twilio Webhooks Setting: webhooks that carry
   * `X-Twilio-Webhooks-Signature-Settings` (a Webhooks Rule matched, e.g.
   * `algorithm=HMAC_SHA256`) are checked with it instead of the auth token.
   */
  webhookSigningKey?: string;
  /** Request timeout in seconds (default 30). */
  timeout?: number;
  /** Send rate (default: the channel's). */
  rateLimit?: RateSpec;
  /** "Maybe sent" policy (default `'unknown'`). */
  ambiguous?: 'unknown' | 'retry';
}

/** Meta WhatsApp Cloud API settings. */
export interface WhatsAppConfig {
  /** Phone number id of the sending number. */
  phoneNumberId: string;
  /** System-user or business access token. */
  accessToken: string;
  /** App secret: verifies `X-Hub-Signature-256` on webhooks. */
  appSecret?: string;
  /** Token echoed in the `hub.challenge` handshake. */
  verifyToken?: string;
  /** Graph API base URL (default `https://graph.facebook.com`). */
  baseUrl?: string;
  /** Graph API version (default `v24.0`). */
  apiVersion?: string;
  /** Request timeout in seconds (default 30). */
  timeout?: number;
  /** Send rate (default: the whatsapp channel's). */
  rateLimit?: RateSpec;
  /** "Maybe sent" policy (default `'unknown'`). */
  ambiguous?: 'unknown' | 'retry';
}

/** EmailJS-compatible endpoint settings. */
export interface EmailJsConfig {
  /** Accepted `user_id` values (the site's EmailJS public keys). */
  publicKeys: string[];
  /** Accepts server posts that carry this `accessToken` (EmailJS private key). */
  privateKey?: string;
  /** Standard Webhooks secret (`whsec_…`) for signed server-to-server posts. */
  webhookSecret?: string;
  /** Origins allowed to post from a browser (CORS); none by default. */
  allowedOrigins?: string[];
  /** Browser posts per client IP (default `'5/m'`). */
  rateLimit?: RateSpec;
  /** Take the client IP from `X-Forwarded-For` (default false). */
  trustProxy?: boolean;
  /** Largest body accepted, in bytes (default 65536). */
  maxBytes?: number;
  /** Email the team about each new submission. */
  notify?: { to: string | string[]; subject?: string };
  /**
   * Auto-reply to the submitter (address taken from `template_params[toField]`,
   * default `reply_to`). Sent only for verified submissions (a passed CAPTCHA, a
   * Standard Webhooks signature or the private key) or to `allowedRecipients`
   * (addresses or `@domain` patterns); at most `perRecipient` per address (default
   * `'2/h'`) and `total` overall (default `'100/h'`). Substituted values are cut to
   * one line of at most 200 characters.
   */
  autoReply?: { subject: string; text: string; html?: string; toField?: string; allowedRecipients?: string[]; perRecipient?: RateSpec; total?: RateSpec };
  /**
   * Server-side CAPTCHA verification of browser posts (Turnstile, hCaptcha or
   * reCAPTCHA `siteverify`): the token is read from `template_params[field]`
   * (`cf-turnstile-response`, `h-captcha-response`, `g-recaptcha-response` by
   * default). `required` (default true) refuses posts without a valid token (403);
   * otherwise they are accepted as unverified (no auto-reply). `minScore` applies
   * to reCAPTCHA v3 scores, `hostnames` to the solved page's host.
   */
  captcha?: { provider: 'turnstile' | 'hcaptcha' | 'recaptcha'; secret: string; verifyUrl?: string; field?: string; required?: boolean; minScore?: number; hostnames?: string[]; timeout?: number };
  /**
   * A hidden form field humans leave empty (default `_honeypot`; `false` turns the
   * check off): a submission that fills it is answered `200 "OK"` and dropped.
   */
  honeypot?: string | false;
  /** Submissions accepted overall, across all processes (default `'600/h'`); beyond it 429. */
  submissionLimit?: RateSpec;
}

/** Provider gate tuning. */
export interface GateConfig {
  /**
   * Seconds added to each rate window (default 0.2) so that the provider, which
   * counts arrivals rather than our grants, never sees more than the limit.
   */
  margin?: number;
  /** Seconds a provider stays paused after a configuration error (default 60). */
  configPause?: number;
  /** Seconds a send task may wait in-process for a rate-limit slot before deferring (default 5). */
  maxWait?: number;
  /**
   * Seconds a message may wait, from its creation, through deferrals (rate limits,
   * paused providers, no provider in this process) before it fails with error
   * `deferred` (default 86400, one day). Raise it for very large sends at low rates.
   */
  maxDeferral?: number;
  /** Seconds a provider must be paused (a configuration error, a long rate limit) before its messages go through the channel's `failover` providers (default 30). */
  failoverAfter?: number;
}

// ---------------------------------------------------------------- inputs

const variablesSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must have names of letters, digits, _ . - (at most 64)'),
  z.union([z.string(), z.number(), z.boolean(), z.null()], 'must be strings, numbers, booleans or null'),
  'must be an object of variables',
);

const headerSchema = z.union(
  [
    z.object({ text: z.string().min(1).max(60) }).strict(),
    z.object({ image: httpUrl('an http(s) URL') }).strict(),
    z.object({ video: httpUrl('an http(s) URL') }).strict(),
    z.object({ document: httpUrl('an http(s) URL'), filename: z.string().min(1).max(240).optional() }).strict(),
  ],
  'must be { text }, { image }, { video } or { document, filename? }',
);
const buttonSchema = z.union(
  [
    z.object({ type: z.literal('url'), text: z.string().min(1).max(2000) }).strict(),
    z.object({ type: z.literal('quick_reply'), payload: z.string().min(1).max(256) }).strict(),
    z.object({ type: z.literal('copy_code'), code: z.string().min(1).max(15) }).strict(),
  ],
  'must be { type: "url", text }, { type: "quick_reply", payload } or { type: "copy_code", code }',
);
const whatsappTemplateSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_]{1,512}$/, 'must be a template name (lower-case letters, digits, _)'),
    language: z.string().regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, 'must be a language code such as en_US').optional(),
    header: headerSchema.optional(),
    buttons: z.array(buttonSchema, 'must be an array of button parameters').max(10, 'must hold at most 10 buttons').optional(),
  })
  .strict();
const contentTemplateSchema = z.object({ contentSid: z.string().regex(/^HX[0-9a-fA-F]{32}$/, 'must be a content SID (HX…)') }).strict();
const emailTemplateSchema = z
  .object({ subject: z.string().max(998).optional(), text: z.string().max(1_000_000).optional(), html: z.string().max(1_000_000).optional() })
  .strict()
  .refine((t) => t.text !== undefined || t.html !== undefined, 'must have text or html');

/** A template: text, email parts, a WhatsApp template or a Twilio content template. */
export const templateSchema = z.union(
  [z.string().min(1, 'must not be empty').max(1_000_000), whatsappTemplateSchema, contentTemplateSchema, emailTemplateSchema],
  'must be a text template, { subject?, text?, html? }, { name, language? } or { contentSid }',
);

const dateSchema = z
  .union([z.date(), z.iso.datetime({ offset: true }), z.number().finite()], 'must be a Date, an ISO-8601 string or epoch milliseconds')
  .transform((v) => (v instanceof Date ? v : new Date(v)))
  .refine((d) => !Number.isNaN(d.getTime()), 'must be a valid date');

const channelSchema = z.string('must be a channel name').regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a channel name (lower-case letters, digits, _)');
const providerNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a provider name');
const mediaItemSchema = z
  .object({
    url: httpUrl('an http(s) URL'),
    contentType: z.string().regex(/^[a-z]+\/[a-z0-9.+-]+$/i, 'must be a MIME type such as application/pdf').optional(),
    filename: z.string().min(1).max(240).optional(),
  })
  .strict();
const mediaSchema = z.array(z.union([httpUrl('an http(s) URL'), mediaItemSchema], 'must be a URL or { url, contentType?, filename? }'), 'must be an array of media').max(10, 'must hold at most 10 items');
const emailListSchema = z.array(z.string().min(3).max(320).regex(/^[^\s@<>,;]+@[^\s@<>,;]+$/, 'must be email addresses'), 'must be an array of email addresses').max(50, 'must hold at most 50 addresses');
const headerValue = z.string().max(998).refine((v) => !/[\r\n]/.test(v), 'must be a single line');
const STRUCTURAL = /^(from|to|cc|bcc|subject|date|message-id|reply-to|sender|return-path|content-type|content-transfer-encoding|mime-version|list-unsubscribe|list-unsubscribe-post)$/i;
const headersSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must have header names of letters, digits and -').refine((k) => !STRUCTURAL.test(k), 'must not set From, To, Subject, Message-ID or other structural headers'),
    headerValue,
    'must be an object of header values',
  )
  .refine((h) => Object.keys(h).length <= 30, 'must hold at most 30 headers');
const attachmentsSchema = z
  .array(
    z
      .object({
        filename: z.string().min(1).max(240).refine((v) => !/[\r\n/\\]/.test(v), 'must be a file name'),
        content: z.string().regex(/^[A-Za-z0-9+/=\s]*$/, 'must be base64'),
        contentType: z.string().regex(/^[a-z]+\/[a-z0-9.+-]+$/i, 'must be a MIME type').optional(),
      })
      .strict(),
    'must be an array of { filename, content, contentType? }',
  )
  .max(10, 'must hold at most 10 files')
  .refine((a) => a.reduce((n, x) => n + x.content.length, 0) <= 14_000_000, 'must be at most 10 MB in all');
const hhmm = z.string('must be HH:MM').regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');
const timeZoneSchema = z.string('must be an IANA time zone').refine((tz) => isTimeZone(tz), 'must be an IANA time zone such as America/New_York');
const quietHoursSchema = z.object({ start: hhmm, end: hhmm, timeZone: timeZoneSchema.optional() }).strict();
const idempotencyKeySchema = z.string('must be a string').min(1, 'must be 1 to 256 characters').max(256, 'must be 1 to 256 characters');
const prioritySchema = z.int('must be an integer from 1 to 10').min(1, 'must be an integer from 1 to 10').max(10, 'must be an integer from 1 to 10');

/** A send's `fallback`: a WhatsApp template for a closed window, or another channel. */
const fallbackSchema = z
  .union(
    [
      z.object({ template: z.union([whatsappTemplateSchema, contentTemplateSchema], 'must be { name, language? } or { contentSid }'), variables: variablesSchema.optional() }).strict(),
      z
        .object({
          channel: channelSchema,
          to: z.string().min(1).max(320).optional(),
          body: z.string().max(1_000_000).optional(),
          subject: z.string().max(998).optional(),
          template: templateSchema.optional(),
          variables: variablesSchema.optional(),
          provider: providerNameSchema.optional(),
        })
        .strict()
        .refine((f) => f.body !== undefined || f.template !== undefined, 'must have body or template'),
    ],
    'must be { template, variables? } (a WhatsApp template for a closed window) or { channel, to?, body | template, variables? } (another channel)',
  );

/** Input of `send()`. */
export const sendInputSchema = z
  .object({
    channel: channelSchema,
    to: z.string('must be a recipient').min(1, 'must be a recipient').max(320, 'must be at most 320 characters'),
    from: z.string().min(1).max(320).optional(),
    body: z.string('must be a string').max(1_000_000).optional(),
    html: z.string('must be a string').max(1_000_000).optional(),
    subject: z.string('must be a string').max(998, 'must be at most 998 characters').optional(),
    template: templateSchema.optional(),
    variables: variablesSchema.optional(),
    media: mediaSchema.optional(),
    provider: providerNameSchema.optional(),
    expiresAt: dateSchema.optional(),
    fallback: fallbackSchema.optional(),
    priority: prioritySchema.optional(),
    replyTo: z.string().min(3).max(320).regex(/^[^\s@<>,;]+@[^\s@<>,;]+$/, 'must be an email address').optional(),
    cc: emailListSchema.optional(),
    bcc: emailListSchema.optional(),
    headers: headersSchema.optional(),
    attachments: attachmentsSchema.optional(),
    unsubscribe: z.boolean('must be a boolean').optional(),
    sendAt: dateSchema.optional(),
    quietHours: quietHoursSchema.optional(),
    idempotencyKey: idempotencyKeySchema.optional(),
  })
  .strict();

/** Input of `sendBulk()`. */
export const sendBulkInputSchema = z
  .object({
    channel: channelSchema,
    recipients: z
      .array(
        z.union(
          [
            z.string().min(1).max(320),
            z
              .object({
                to: z.string().min(1).max(320),
                variables: variablesSchema.optional(),
                idempotencyKey: idempotencyKeySchema.optional(),
                timeZone: timeZoneSchema.optional(),
                fallbackTo: z.string().min(1).max(320).optional(),
              })
              .strict(),
          ],
          'must be an address or { to, variables?, idempotencyKey?, timeZone?, fallbackTo? }',
        ),
        'must be an array of recipients',
      )
      .min(1, 'must hold at least one recipient')
      .max(100_000, 'must hold at most 100000 recipients'),
    template: templateSchema,
    variables: variablesSchema.optional(),
    subject: z.string().max(998).optional(),
    from: z.string().min(1).max(320).optional(),
    provider: providerNameSchema.optional(),
    expiresAt: dateSchema.optional(),
    name: z.string().max(200, 'must be at most 200 characters').optional(),
    priority: prioritySchema.optional(),
    sendAt: dateSchema.optional(),
    quietHours: quietHoursSchema.optional(),
    fallback: fallbackSchema.optional(),
  })
  .strict();

/** EmailJS `template_params`: flat values only. */
export const emailjsParamsSchema = z
  .record(z.string().max(128), z.union([z.string().max(50_000), z.number(), z.boolean(), z.null()]), 'must be an object of strings, numbers or booleans')
  .refine((p) => Object.keys(p).length <= 50, 'must have at most 50 fields');

/** An EmailJS `/api/v1.0/email/send` body. */
export const emailjsSubmissionSchema = z.object({
  service_id: z.string('must be a string').min(1, 'must be a non-empty string').max(128),
  template_id: z.string('must be a string').min(1, 'must be a non-empty string').max(128),
  user_id: z.string('must be a string').min(1, 'must be a non-empty string').max(128),
  accessToken: z.string().max(256).optional(),
  lib_version: z.string().max(32).optional(),
  template_params: emailjsParamsSchema.default({}),
});

/** Payload of the `process_emailjs_submission` task. */
export const emailjsTaskSchema = z
  .object({
    submission: emailjsSubmissionSchema.omit({ accessToken: true }).strict(),
    dedupeKey: z.string().min(1).max(300),
    authMode: z.enum(['browser', 'signed', 'private_key']),
    verified: z.boolean().default(false),
    origin: z.string().max(300).nullable(),
    ip: z.string().max(100).nullable(),
    receivedAt: z.iso.datetime({ offset: true }),
  })
  .strict();
