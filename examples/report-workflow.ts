// Monthly client reports as a workflow: one report task per client (fan-out),
// then one summary email once every report has finished (fan-in), sent through
// the messages plugin over real SMTP to a local peer.
//   node --import tsx examples/run.ts report-workflow
//
// One client's report fails for good; the summary's edges say `onFailure: 'run'`,
// so the summary still goes out and names it. `ctx.parents` holds the results of
// the reports that succeeded, keyed by step name.
import { z } from 'zod';
import { createCourier, defineTask, PermanentError } from '../src/index.js';
import { messages } from '../src/messages/index.js';
import { startSmtpPeer } from '../test/peers/smtp.js';

const CLIENTS = ['acme', 'globex', 'initech', 'umbrella'];
const smtp = await startSmtpPeer({ users: { reports: 'smtp-demo-password' } });
const courier = createCourier({
  connectionString: process.env.DATABASE_URL,
  plugins: [
    messages({
      providers: { smtp: { host: '127.0.0.1', port: smtp.port, secure: false, auth: { user: 'reports', pass: 'smtp-demo-password' }, from: 'Reports <reports@acme.test>', tls: { ca: smtp.cert.cert } } },
    }),
  ],
});

const buildReport = defineTask({
  name: 'build_client_report',
  payload: z.object({ client: z.string() }),
  maxRetries: 0,
  async handler({ client }) {
    if (client === 'globex') throw new PermanentError('the globex ledger export is missing');
    const invoices = client.length * 7;
    return { client, invoices, revenue: invoices * 120 };
  },
});

const sendSummary = defineTask({
  name: 'send_report_summary',
  payload: z.object({ to: z.string(), clients: z.array(z.string()) }),
  async handler({ to, clients }, ctx) {
    const done = Object.values(await ctx.parents) as Array<{ client: string; invoices: number; revenue: number }>;
    const missing = clients.filter((c) => !done.some((d) => d.client === c));
    const lines = done.map((d) => `${d.client}: ${d.invoices} invoices, ${d.revenue} EUR`);
    if (missing.length > 0) lines.push(`missing: ${missing.join(', ')}`);
    const messageId = await courier.messages.send({ channel: 'email', to, subject: `Client reports: ${done.length} of ${clients.length}`, body: lines.join('\n') });
    return { messageId, reports: done.length, missing };
  },
});
courier.registerTask(buildReport);
courier.registerTask(sendSummary);
await courier.migrate();

const wf = courier.workflow('monthly-client-reports');
for (const client of CLIENTS) wf.step(`report:${client}`, buildReport, { client });
wf.step('summary', sendSummary, { to: 'ops@acme.test', clients: CLIENTS }, { dependsOn: CLIENTS.map((c) => ({ step: `report:${c}`, onFailure: 'run' as const })) });
const { id, tasks } = await wf.enqueue();
console.log(`workflow ${id}: ${CLIENTS.length} reports, then a summary (task ${tasks.summary})`);

await courier.start({ concurrency: 4, pollInterval: 0.5 });
const summary = await courier.waitForTask(tasks.summary as string, { timeout: 60 });
const workflow = await courier.getWorkflow(id);
for (const step of workflow?.steps ?? []) console.log(`  ${step.step}: ${step.status}${step.lastError ? ` (${step.lastError})` : ''}`);
const { messageId, reports } = summary.result as { messageId: string; reports: number };
// The email is a task of its own: wait until the SMTP peer has it.
for (let i = 0; i < 300 && (await courier.messages.get(messageId))?.status !== 'sent'; i++) await new Promise((r) => setTimeout(r, 100));
const mail = smtp.received[0];
await courier.close();
await smtp.close();
if (!mail || smtp.received.length !== 1) {
  console.error('the summary email did not arrive');
  process.exit(1);
}
console.log(`summary email sent to ${mail.rcptTo.join(', ')}: ${reports} of ${CLIENTS.length} client reports (workflow ${workflow?.status})`);
