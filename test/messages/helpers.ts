import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Courier, CourierOptions } from '../../src/index.js';
import { type MessagingCourier, messages, type ProvidersConfig } from '../../src/messages/index.js';
import { testCourier, waitFor } from '../helpers/db.js';
import { serveWeb } from '../peers/http.js';
import { type MetaPeer, startMetaPeer } from '../peers/meta.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';

/** A pino logger writing JSON lines into `lines` (level debug), for log assertions. */
export function captureLogger(): { logger: pino.Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => lines.join('\n') };
}

/** A migrated courier on a fresh schema with the messages plugin and the given providers. */
export async function messagingCourier(providers?: ProvidersConfig, options: Omit<CourierOptions, 'plugins'> = {}): Promise<MessagingCourier> {
  return (await testCourier({ plugins: [messages({ providers })], ...options })) as MessagingCourier;
}

/** Waits until the message reaches one of `statuses`; returns it. */
export async function waitForStatus(courier: MessagingCourier, id: string, statuses: string[], timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const m = await courier.messages.get(id);
      return m && statuses.includes(m.status) ? m : null;
    },
    timeoutMs,
    `message ${id} to reach ${statuses.join('|')}`,
  );
}

/** The raw task row (attempts, deferrals, status) of a message's send task. */
export async function taskRow(courier: Courier, taskId: string | null) {
  const { rows } = await courier.pool.query<{ status: string; attempts: number; deferrals: number; max_retries: number; run_at: Date; last_error: string | null }>(
    `SELECT status, attempts, deferrals, max_retries, run_at, last_error FROM "${courier.schema}".tasks WHERE id = $1`,
    [taskId],
  );
  return rows[0];
}

/** Fast retries for tests. */
export const fastRetries = { maxRetries: 3, retryDelay: 0.2, timeout: 30 };

/**
 * A started courier sending WhatsApp through the Meta peer and SMS through the
 * Twilio peer, both calling its webhooks back (SMS delivered after 20 ms), with
 * `extra` provider settings on top: the set-up of the fallback tests.
 */
export async function whatsAppAndSmsCourier(extra: Partial<ProvidersConfig> = {}): Promise<{ meta: MetaPeer; twilio: TwilioPeer; courier: MessagingCourier; close(): Promise<void> }> {
  const meta = await startMetaPeer();
  const twilio = await startTwilioPeer();
  let courier: MessagingCourier | undefined;
  const web = await serveWeb({
    '/meta': (r) => (courier as MessagingCourier).messages.webhooks.meta(r),
    '/twilio': (r) => (courier as MessagingCourier).messages.webhooks.twilio(r),
  });
  meta.webhookUrl = `${web.url}/meta`;
  twilio.lifecycle = () => [{ status: 'delivered', delay: 20 }];
  courier = await messagingCourier({
    whatsapp: { phoneNumberId: meta.phoneNumberId, accessToken: meta.accessToken, appSecret: meta.appSecret, baseUrl: meta.url, timeout: 5 },
    twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url, statusCallback: `${web.url}/twilio`, timeout: 5 },
    rateLimits: { sms: '50/s', whatsapp: '50/s' },
    sendTask: fastRetries,
    ...extra,
  });
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
  const started = courier;
  return {
    meta,
    twilio,
    courier: started,
    async close() {
      await started.close({ grace: 1 });
      await Promise.all([meta.close(), twilio.close(), web.close()]);
    },
  };
}
