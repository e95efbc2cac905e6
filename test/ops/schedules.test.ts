import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier, defineTask } from '../../src/index.js';
import { databaseUrl, testCourier } from '../helpers/db.js';

let courier: Courier;
beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('tick', () => {});
});
afterAll(() => courier.close({ grace: 0 }));

const peer = () => createCourier({ connectionString: databaseUrl(), schema: courier.schema });

describe('cron schedules', () => {
  it('3 processes with an every-second schedule for 5 s enqueue each tick exactly once', async () => {
    const workers = [peer(), peer(), peer()];
    for (const w of workers) w.registerTask('tick', () => {});
    await Promise.all(workers.map((w) => w.start({ pollInterval: 0.2, cleanup: false })));
    const first = new Date();
    await courier.schedule('every-second', '* * * * * *', 'tick', { from: 'cron' });
    await new Promise((r) => setTimeout(r, 5200));
    await courier.pauseSchedule('every-second');
    const last = new Date();
    await Promise.all(workers.map((w) => w.close()));
    const { rows } = await courier.pool.query<{ tick: Date }>(
      `SELECT tick FROM "${courier.schema}".schedule_runs WHERE schedule = 'every-second' ORDER BY tick`,
    );
    const ticks = rows.map((r) => r.tick.getTime());
    // Every whole second between start and pause was reached, none twice, none skipped.
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < ticks.length; i++) expect((ticks[i] as number) - (ticks[i - 1] as number)).toBe(1000);
    expect(ticks[0]).toBeGreaterThan(first.getTime() - 1000);
    expect(ticks.at(-1)).toBeLessThanOrEqual(last.getTime());
    const tasks = await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks WHERE name = 'tick' AND payload = '{"from":"cron"}'`);
    expect(Number(tasks.rows[0].n)).toBe(ticks.length);
  });

  it('lists, pauses, resumes and removes; validates the cron and zone', async () => {
    const s = await courier.schedule('nightly', '0 2 * * *', 'tick', {}, { timezone: 'Europe/Paris', queue: 'reports' });
    expect(s).toMatchObject({ name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', paused: false, options: { queue: 'reports' } });
    expect(s.nextRunAt.getTime()).toBeGreaterThan(Date.now());
    expect(await courier.pauseSchedule('nightly')).toBe(true);
    expect((await courier.listSchedules()).find((x) => x.name === 'nightly')?.paused).toBe(true);
    expect(await courier.resumeSchedule('nightly')).toBe(true);
    expect(await courier.removeSchedule('nightly')).toBe(true);
    expect(await courier.removeSchedule('nightly')).toBe(false);
    await expect(courier.schedule('bad', 'every day', 'tick')).rejects.toMatchObject({ field: 'cron' });
    await expect(courier.schedule('bad', '* * * * *', 'tick', {}, { timezone: 'Nowhere/City' })).rejects.toMatchObject({ field: 'timezone' });
    await expect(courier.schedule('bad name!', '* * * * *', 'tick')).rejects.toMatchObject({ field: 'name' });
  });

  it('after downtime, backfill decides how many missed ticks run', async () => {
    for (const [name, backfill, expected] of [
      ['no-backfill', false, 0],
      ['backfill-3', 3, 3],
    ] as const) {
      await courier.schedule(name, '*/1 * * * *', 'tick', { name }, { backfill });
      // Pretend the cluster was down for 10 minutes.
      await courier.pool.query(`UPDATE "${courier.schema}".schedules SET next_run_at = now() - interval '10 minutes' WHERE name = $1`, [name]);
      await courier.runMaintenance();
      const { rows } = await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks WHERE payload = $1::jsonb`, [JSON.stringify({ name })]);
      // Ticks within the last minute are on time (at most 1 here); older ones are "missed".
      expect(Number(rows[0].n) - expected).toBeGreaterThanOrEqual(0);
      expect(Number(rows[0].n) - expected).toBeLessThanOrEqual(1);
      const [s] = (await courier.listSchedules()).filter((x) => x.name === name);
      expect(s?.nextRunAt.getTime()).toBeGreaterThan(Date.now());
      await courier.removeSchedule(name);
    }
  });

  it('schedules declared with defineTask({ cron }) are created on start', async () => {
    const c = peer();
    c.registerTask(defineTask({ name: 'declared', cron: '0 0 1 1 *', timezone: 'UTC', handler: () => {} }));
    await c.start({ pollInterval: 1 });
    const names = (await c.listSchedules()).map((s) => s.name);
    expect(names).toContain('declared');
    expect(names).toContain('pgcourier.cleanup');
    await c.close();
  });
});
