import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Courier, CourierOptions } from '../../src/index.js';
import { type MessagingCourier, messages, type ProvidersConfig } from '../../src/messages/index.js';
import { testCourier, waitFor } from '../helpers/db.js';

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
