// A report built on a cron schedule. Any number of processes may run this: each
// tick enqueues the report once. Runs for a few seconds with an every-second
// schedule, then exits.
//   node --import tsx examples/run.ts cron-report
import { createCourier, defineTask } from '../src/index.js';

const courier = createCourier({ connectionString: process.env.DATABASE_URL });
courier.registerTask(
  defineTask({
    name: 'daily_report',
    async handler(payload: unknown, ctx) {
      console.log(`report built by task ${ctx.taskId} (${JSON.stringify(payload)})`);
      return { rows: 42 };
    },
  }),
);
await courier.migrate();
// Real use: '0 6 * * *' with { timezone: 'Europe/Paris' }. Here: every second.
await courier.schedule('report', '* * * * * *', 'daily_report', { kind: 'demo' });
await courier.start({ pollInterval: 0.5 });
await new Promise((r) => setTimeout(r, 3500));
await courier.removeSchedule('report');
await courier.stop({ grace: 5 });
const status = await courier.queueStatus();
console.log(`reports built: ${status.total.succeeded}`);
await courier.close();
if (status.total.succeeded < 2) process.exit(1);
