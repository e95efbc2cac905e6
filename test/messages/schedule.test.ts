// sendAt and quiet hours per recipient time zone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessageProvider, MessagingCourier } from '../../src/messages/index.js';
import { quietWait } from '../../src/messages/quiet.js';
import { waitFor } from '../helpers/db.js';
import { fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

describe('quietWait (pure)', () => {
  const at = (iso: string) => new Date(iso);
  it('is 0 outside the window and the seconds to its end inside, wrapping past midnight, in the given zone', () => {
    expect(quietWait({ start: '21:00', end: '08:00' }, at('2026-11-30T12:00:00Z'))).toBe(0);
    expect(quietWait({ start: '21:00', end: '08:00' }, at('2026-11-30T22:00:00Z'))).toBe(10 * 3600);
    expect(quietWait({ start: '21:00', end: '08:00' }, at('2026-11-30T07:30:00Z'))).toBe(30 * 60);
    // 12:00 UTC is 21:00 in Tokyo: quiet there until 08:00 local (23:00 UTC).
    expect(quietWait({ start: '21:00', end: '08:00', timeZone: 'Asia/Tokyo' }, at('2026-11-30T12:00:00Z'))).toBe(11 * 3600);
    expect(quietWait({ start: '09:00', end: '17:00', timeZone: 'America/New_York' }, at('2026-11-30T12:00:00Z'))).toBe(0);
    expect(quietWait({ start: '09:00', end: '09:00' }, at('2026-11-30T09:30:00Z'))).toBe(0);
  });
});

describe('scheduled sends', () => {
  let courier: MessagingCourier;
  const sent: Array<{ to: string; at: number }> = [];
  const fake: MessageProvider = {
    name: 'fake-sms',
    channels: ['sms'],
    rateLimit: '100/s',
    async send(message) {
      sent.push({ to: message.to, at: Date.now() });
      return { outcome: 'ok', providerMessageId: `F${sent.length}` };
    },
  };

  beforeAll(async () => {
    courier = await messagingCourier({ sendTask: fastRetries });
    courier.messages.registerProvider(fake);
    await courier.start({ pollInterval: 0.05, concurrency: 4 });
  });
  afterAll(async () => {
    await courier.close({ grace: 1 });
  });

  it('sendAt: nothing goes out before the time', async () => {
    const sendAt = new Date(Date.now() + 1500);
    const id = await courier.messages.send({ channel: 'sms', to: '+15557770001', body: 'Your appointment is tomorrow', sendAt });
    expect((await courier.messages.get(id))?.status).toBe('queued');
    await waitForStatus(courier, id, ['sent']);
    expect(sent.find((s) => s.to === '+15557770001')?.at).toBeGreaterThanOrEqual(sendAt.getTime());
  });

  it('quiet hours per recipient time zone: inside the window the message waits for its end, outside it goes now', async () => {
    const h = new Date().getUTCHours();
    const hh = (x: number) => `${String((x + 24) % 24).padStart(2, '0')}:00`;
    const quietHours = { start: hh(h - 1), end: hh(h + 2) };
    const batchId = await courier.messages.sendBulk({
      channel: 'sms',
      template: 'Sale starts',
      quietHours,
      recipients: [
        { to: '+15557770002', timeZone: 'UTC' },
        { to: '+15557770003', timeZone: 'Asia/Tokyo' },
      ],
    });
    const { rows } = await courier.pool.query<{ id: string; recipient: string; task_id: string }>(`SELECT id, recipient, task_id FROM "${courier.schema}".messages WHERE batch_id = $1`, [batchId]);
    const quiet = rows.find((r) => r.recipient === '+15557770002');
    const loud = rows.find((r) => r.recipient === '+15557770003');
    await waitForStatus(courier, loud?.id as string, ['sent']);
    const task = await waitFor(async () => {
      const t = await taskRow(courier, quiet?.task_id ?? null);
      return t?.status === 'queued' && t.deferrals > 0 ? t : null;
    });
    expect(task.run_at.getTime() - Date.now()).toBeGreaterThan(3600 * 1000 - 60_000);
    expect((await courier.messages.get(quiet?.id as string))?.status).toBe('pending');
    expect(sent.some((s) => s.to === '+15557770002')).toBe(false);
  });

  it('refuses bad windows and time zones, naming the field', async () => {
    await expect(courier.messages.send({ channel: 'sms', to: '+15557770004', body: 'x', quietHours: { start: '25:00', end: '08:00' } })).rejects.toThrow(/quietHours\.start/);
    await expect(courier.messages.sendBulk({ channel: 'sms', template: 'x', recipients: [{ to: '+15557770005', timeZone: 'Mars/Olympus' }] })).rejects.toThrow(ValidationError);
  });
});
