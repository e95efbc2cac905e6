import { z } from 'zod';
import { createCourier } from './courier.js';
import { PermanentError } from './errors.js';
import { defineTask } from './registry.js';

/**
 * The demo behind `npm run demo`: boots embedded Postgres (unless DATABASE_URL is
 * set), enqueues tasks of mixed priority, some of which fail and retry, runs the
 * processor with a progress line and prints a summary read back from the table.
 */
export async function runDemo(options: { tasks: number }): Promise<void> {
  const started = Date.now();
  let stopServer = async () => {};
  let url = process.env.DATABASE_URL;
  if (!url) {
    const { startEmbeddedPostgres } = await import('./embedded.js');
    const server = await startEmbeddedPostgres();
    url = server.connectionString;
    stopServer = () => server.destroy();
    console.log(`embedded Postgres started on port ${server.port} in ${Date.now() - started} ms`);
  }
  const courier = createCourier({ connectionString: url, schema: `pgcourier_demo_${process.pid}` });
  try {
    await courier.migrate();
    courier.registerTask(
      defineTask({
        name: 'send_welcome',
        payload: z.object({ userId: z.number().int() }),
        queue: 'email',
        async handler({ userId }) {
          await new Promise((r) => setTimeout(r, 5 + (userId % 10)));
          return { delivered: `user-${userId}@example.com` };
        },
      }),
    );
    courier.registerTask(
      defineTask({
        name: 'flaky_report',
        payload: z.object({ reportId: z.number().int() }),
        maxRetries: 3,
        retryDelay: 0.1,
        async handler({ reportId }, ctx) {
          // Fails on the first attempt (every third report twice) and then works.
          if (ctx.attempt <= (reportId % 3 === 0 ? 2 : 1)) throw new Error(`report ${reportId}: upstream timed out`);
          await ctx.progress(1, 1);
          return { rows: reportId * 10 };
        },
      }),
    );
    courier.registerTask(
      defineTask({
        name: 'charge_card',
        payload: z.object({ cents: z.number().int() }),
        priority: 1,
        async handler({ cents }) {
          if (cents < 0) throw new PermanentError('negative amount: refusing to retry');
          return { charged: cents };
        },
      }),
    );

    const total = options.tasks;
    const items = Array.from({ length: total }, (_, i) => {
      if (i % 10 === 0) return { name: 'flaky_report', payload: { reportId: i } };
      if (i % 25 === 1) return { name: 'charge_card', payload: { cents: i % 50 === 1 ? -5 : i * 100 } };
      return { name: 'send_welcome', payload: { userId: i }, options: { priority: 1 + (i % 10) } };
    });
    await courier.enqueueMany(items);
    console.log(`enqueued ${total} tasks in one statement (mixed priorities; some fail and retry)`);

    await courier.start({ concurrency: 20, pollInterval: 0.1 });
    const tty = process.stdout.isTTY;
    for (;;) {
      const s = (await courier.queueStatus()).total;
      const finished = s.succeeded + s.failed + s.cancelled;
      const line = `progress ${bar(finished / total)} ${finished}/${total}  running ${s.running}  queued ${s.queued}`;
      if (tty) process.stdout.write(`\r${line}`);
      else console.log(line);
      if (finished >= total) break;
      await new Promise((r) => setTimeout(r, tty ? 100 : 500));
    }
    if (tty) process.stdout.write('\n');
    await courier.stop({ grace: 5 });

    const { rows } = await courier.pool.query<{ name: string; status: string; n: string; retried: string }>(
      `SELECT name, status, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS retried
         FROM "${courier.schema}".tasks GROUP BY name, status ORDER BY name, status`,
    );
    console.log('\nsummary (read back from Postgres)');
    console.log(`${'task'.padEnd(14)}${'status'.padEnd(11)}${'count'.padStart(6)}${'retried'.padStart(9)}`);
    for (const r of rows) console.log(`${r.name.padEnd(14)}${r.status.padEnd(11)}${r.n.padStart(6)}${r.retried.padStart(9)}`);
    console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await courier.pool.query(`DROP SCHEMA IF EXISTS "${courier.schema}" CASCADE`).catch(() => {});
    await courier.close({ grace: 0 });
    await stopServer();
  }
}

function bar(fraction: number): string {
  const width = 30;
  const full = Math.round(Math.min(1, fraction) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
