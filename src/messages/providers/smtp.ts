import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { z } from 'zod';
import { addressOf } from '../channels.js';
import { classifySmtp, type SmtpErrorLike } from '../classify.js';
import type { smtpSchema } from '../config.js';
import { emailContentProblem } from '../content.js';
import { singleLine } from '../template.js';
import type { MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './provider.js';

type Nodemailer = Pick<typeof import('nodemailer'), 'createTransport'>;

/** What a send reports when `nodemailer`, an optional peer dependency, is not installed. */
export const NODEMAILER_MISSING = 'SMTP is configured but the optional peer dependency "nodemailer" is not installed: run `npm install nodemailer`';

let nodemailerLoad: Promise<Nodemailer | null> | undefined;

/**
 * Loads `nodemailer` on first use, only when SMTP is configured: it is an
 * optional peer dependency, so a courier that sends no email never loads it.
 * Resolves `null` when it is not installed.
 */
function loadNodemailer(): Promise<Nodemailer | null> {
  nodemailerLoad ??= import('nodemailer').then(
    (m): Nodemailer => m,
    () => null,
  );
  return nodemailerLoad;
}

/** The domain of an address such as `"Acme <noreply@acme.test>"`, for Message-IDs. */
export function addressDomain(from: string): string {
  const m = /@([A-Za-z0-9.-]+)/.exec(from);
  return m?.[1]?.toLowerCase() ?? 'pgcourier.invalid';
}

/**
 * The deterministic Message-ID of a message: the same on every attempt, so a copy
 * sent twice after an ambiguous failure is recognisable as one message.
 */
export function smtpMessageId(messageId: string, from: string): string {
  return `<${messageId}@${addressDomain(from)}>`;
}

/**
 * Follows one SMTP transaction through nodemailer's protocol log, to know whether
 * the server had said `354` (the message body was going out) when it failed.
 * Only the stage is kept; no log line is stored or forwarded (they hold addresses).
 */
function stageTracker(): { logger: Record<string, (...args: unknown[]) => void>; afterData(): boolean } {
  let afterData = false;
  const onEntry = (meta: unknown, msg: unknown) => {
    const tnx = (meta as { tnx?: string } | undefined)?.tnx;
    if ((tnx === 'server' && typeof msg === 'string' && msg.startsWith('354')) || tnx === 'message') afterData = true;
  };
  const noop = () => {};
  return { logger: { level: noop, trace: noop, debug: onEntry, info: onEntry, warn: noop, error: noop, fatal: noop }, afterData: () => afterData };
}

/**
 * Email over SMTP with nodemailer: 587 with STARTTLS required (`secure: false`) or
 * 465 with implicit TLS (`secure: true`), AUTH when `auth` is set. One connection
 * per message, so that a connection lost after the body went out is recognised as
 * "maybe sent".
 */
export function smtpProvider(config: z.output<typeof smtpSchema>): MessageProvider {
  const secure = config.secure ?? config.port === 465;
  const options: SMTPTransport.Options = {
    host: config.host,
    port: config.port ?? (secure ? 465 : 587),
    secure,
    requireTLS: config.requireTLS ?? !secure,
    ...(config.auth ? { auth: { user: config.auth.user, pass: config.auth.pass } } : {}),
    ...(config.name ? { name: config.name } : {}),
    ...(config.tls ? { tls: { ...config.tls } } : {}),
    connectionTimeout: config.timeout * 1000,
    greetingTimeout: config.timeout * 1000,
    socketTimeout: config.timeout * 1000,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const transportLib = loadNodemailer();
  return {
    name: 'smtp',
    channels: ['email'],
    rateLimit: config.rateLimit,
    ambiguous: config.ambiguous,
    secrets: config.auth ? [config.auth.pass] : [],
    gateKey: () => `smtp:${config.host}:${config.auth?.user ?? ''}`,
    sender: (m) => addressOf(m.from ?? config.from),
    validate: emailContentProblem,
    async send(message: OutgoingMessage, ctx: ProviderContext): Promise<SendResult> {
      const from = message.from ?? config.from;
      const messageId = smtpMessageId(message.id, from);
      const nodemailer = await transportLib;
      if (!nodemailer) return { outcome: 'config', code: 'nodemailer_missing', message: NODEMAILER_MISSING };
      const stage = stageTracker();
      const transport = nodemailer.createTransport({ ...options, logger: stage.logger, debug: true } as SMTPTransport.Options);
      try {
        const info = (await transport.sendMail({
          from,
          to: message.to,
          subject: message.subject === null ? undefined : singleLine(message.subject),
          text: message.text ?? undefined,
          html: message.html ?? undefined,
          messageId,
          headers: { ...message.email?.headers, 'X-Courier-Message-Id': message.id },
          ...(message.email?.replyTo ? { replyTo: message.email.replyTo } : {}),
          ...(message.email?.cc?.length ? { cc: message.email.cc } : {}),
          ...(message.email?.bcc?.length ? { bcc: message.email.bcc } : {}),
          ...(message.email?.attachments?.length
            ? { attachments: message.email.attachments.map((a) => ({ filename: a.filename, content: a.content, encoding: 'base64', ...(a.contentType ? { contentType: a.contentType } : {}) })) }
            : {}),
          signal: ctx.signal,
        } as SMTPTransport.MailOptions)) as SMTPTransport.SentMessageInfo & { rejectedErrors?: SmtpErrorLike[] };
        const rejected = info.rejected.map((a) => String(typeof a === 'string' ? a : (a as { address?: string }).address).toLowerCase());
        if (rejected.includes(message.to.toLowerCase()) || info.accepted.length === 0) {
          const first = info.rejectedErrors?.[0];
          const c = first ? classifySmtp(first) : { outcome: 'permanent_recipient' as const, code: null, message: 'recipient rejected' };
          return { outcome: c.outcome, code: c.code, message: c.message, retryAfter: c.retryAfter };
        }
        return { outcome: 'ok', providerMessageId: info.messageId || messageId };
      } catch (err) {
        const c = classifySmtp(err as SmtpErrorLike, { afterData: stage.afterData() });
        return { outcome: c.outcome, code: c.code, message: c.message, retryAfter: c.retryAfter };
      } finally {
        transport.close();
      }
    },
  };
}
