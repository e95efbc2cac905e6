// A 500-recipient campaign over SMS, email and WhatsApp, end to end on real
// protocols against local peers (no network, no accounts):
//
//   node --import tsx examples/bulk-sms-campaign.ts
//
// It boots an embedded Postgres (or uses DATABASE_URL), starts a Twilio-shaped
// HTTP peer, an SMTP server with STARTTLS and AUTH, and a WhatsApp Cloud API peer,
// serves our webhook handlers over HTTP for their status callbacks, then sends
// three bulk batches with a progress bar each. Along the way some sends are rate
// limited (429 + Retry-After), some recipients are permanently invalid, and some
// delivery webhooks arrive out of order. It ends with a per-status table read from
// Postgres, checked against the batches' own counts, then shows a customer texting
// STOP, an email bouncing (a DSN) and a WhatsApp message falling back to SMS.
import { createCourier } from '../src/index.js';
import { type MessagingCourier, messages } from '../src/messages/index.js';
import { serveWeb } from '../test/peers/http.js';
import { startMetaPeer } from '../test/peers/meta.js';
import { startSmtpPeer } from '../test/peers/smtp.js';
import { startTwilioPeer } from '../test/peers/twilio.js';

const RECIPIENTS = 500;
const SMS = 250;
const EMAIL = 150;
const tty = process.stdout.isTTY;

async function main(): Promise<void> {
  const started = Date.now();
  let stopPostgres = async () => {};
  let url = process.env.DATABASE_URL;
  if (!url) {
    const { startEmbeddedPostgres } = await import('../src/embedded.js');
    const pg = await startEmbeddedPostgres();
    url = pg.connectionString;
    stopPostgres = () => pg.destroy();
    console.log(`embedded Postgres on port ${pg.port}`);
  }

  // Local peers that speak the providers' protocols.
  const twilio = await startTwilioPeer();
  const smtp = await startSmtpPeer({ users: { campaigns: 'smtp-demo-password' } });
  const meta = await startMetaPeer();
  let courier: MessagingCourier | undefined;
  const web = await serveWeb({
    '/hooks/twilio': (r) => (courier as MessagingCourier).messages.webhooks.twilio(r),
    '/hooks/meta': (r) => (courier as MessagingCourier).messages.webhooks.meta(r),
  });
  meta.webhookUrl = `${web.url}/hooks/meta`;

  const schema = `campaign_${process.pid}`;
  const campaign = createCourier({
    connectionString: url,
    schema,
    plugins: [
      messages({
        providers: {
          twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url, statusCallback: `${web.url}/hooks/twilio` },
          smtp: { host: '127.0.0.1', port: smtp.port, secure: false, auth: { user: 'campaigns', pass: 'smtp-demo-password' }, from: 'Acme News <news@acme.test>', tls: { ca: smtp.cert.cert } },
          whatsapp: { phoneNumberId: meta.phoneNumberId, accessToken: meta.accessToken, appSecret: meta.appSecret, verifyToken: 'demo-verify', baseUrl: meta.url },
          // Faster than the defaults (sms 3/s, email 5/s, whatsapp 20/s) so the demo takes seconds.
          rateLimits: { sms: '40/s', email: '30/s', whatsapp: '40/s' },
          sendTask: { maxRetries: 3, retryDelay: 0.5 },
        },
      }),
    ],
  });
  courier = campaign;

  try {
    await courier.migrate();
    const people = Array.from({ length: RECIPIENTS }, (_, i) => ({
      name: `Customer ${i + 1}`,
      phone: `+1555${String(2_000_000 + i).slice(1)}`,
      email: `customer${i + 1}@example.test`,
    }));
    const sms = people.slice(0, SMS);
    const email = people.slice(SMS, SMS + EMAIL);
    const whatsapp = people.slice(SMS + EMAIL);

    // Trouble, scripted at the peers.
    for (const p of sms.filter((_, i) => i % 37 === 5)) twilio.invalid.add(p.phone); // 21211: invalid number
    for (const p of sms.filter((_, i) => i % 100 === 9)) {
      twilio.script({ match: (c) => c.to === p.phone, action: { status: 429, headers: { 'retry-after': '2' }, body: { code: 20429, message: 'Too Many Requests', status: 429 } } });
    }
    twilio.lifecycle = (c) =>
      Number(c.to.slice(-2)) % 10 === 3
        ? [ { status: 'delivered', delay: 30 }, { status: 'sent', delay: 120 } ] // out of order
        : [ { status: 'sent', delay: 30 }, { status: 'delivered', delay: 90 } ];
    smtp.script({ stage: 'RCPT', match: /^customer(27[0-9])@/, code: 550, text: '5.1.1 No such user here', times: 10 });
    for (const p of whatsapp.filter((_, i) => i % 40 === 4)) {
      meta.script({ match: (s) => s.to === p.phone.slice(1), action: { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429 } } } });
    }
    meta.lifecycle = (s) =>
      Number(s.to.slice(-1)) === 7
        ? [ { status: 'failed', delay: 30, errorCode: 131026 } ] // not on WhatsApp
        : Number(s.to.slice(-1)) % 3 === 0
          ? [ { status: 'read', delay: 30 }, { status: 'delivered', delay: 80 }, { status: 'sent', delay: 120 } ] // out of order
          : [ { status: 'sent', delay: 20 }, { status: 'delivered', delay: 60 }, { status: 'read', delay: 100 } ];

    const batches = {
      sms: await courier.messages.sendBulk({
        channel: 'sms',
        name: 'spring-sale sms',
        recipients: sms.map((p) => ({ to: p.phone, variables: { name: p.name } })),
        template: 'Hi {{name}}, the spring sale starts today: 20% off with code SPRING.',
      }),
      email: await courier.messages.sendBulk({
        channel: 'email',
        name: 'spring-sale email',
        recipients: email.map((p) => ({ to: p.email, variables: { name: p.name } })),
        template: { subject: '{{name}}, the spring sale starts today', text: 'Hi {{name}},\n20% off with code SPRING.', html: '<p>Hi {{name}},</p><p><b>20% off</b> with code SPRING.</p>' },
      }),
      whatsapp: await courier.messages.sendBulk({
        channel: 'whatsapp',
        name: 'spring-sale whatsapp',
        recipients: whatsapp.map((p) => ({ to: p.phone, variables: { 1: p.name, 2: 'SPRING' } })),
        template: { name: 'order_shipped', language: 'en_US' },
      }),
    };
    console.log(`created 3 batches for ${RECIPIENTS} recipients (one statement each): sms ${sms.length}, email ${email.length}, whatsapp ${whatsapp.length}`);

    await courier.start({ concurrency: 20, pollInterval: 0.2 });
    let lines = 0;
    for (;;) {
      const progress = await Promise.all(Object.entries(batches).map(async ([channel, id]) => [channel, await courier?.messages.getBatch(id)] as const));
      if (tty && lines) process.stdout.write(`\x1b[${lines}A`);
      const out = progress.map(([channel, p]) => `${channel.padEnd(9)}${bar((p?.progress ?? 0) / 100)} ${String(p?.progress ?? 0).padStart(3)}%  sent ${String(p?.completed ?? 0).padStart(3)}  failed ${String(p?.failed ?? 0).padStart(2)}  active ${String(p?.active ?? 0).padStart(3)}`);
      console.log(out.join('\n'));
      lines = out.length;
      if (progress.every(([, p]) => p && p.active === 0)) break;
      await new Promise((r) => setTimeout(r, tty ? 200 : 1000));
    }
    // Let the last status webhooks land.
    const settleBy = Date.now() + 10_000;
    while ((!twilio.settled() || !meta.settled()) && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 50));
    await courier.stop({ grace: 5 });

    const { rows } = await courier.pool.query<{ channel: string; status: string; n: number }>(
      `SELECT channel, status, count(*)::int AS n FROM "${schema}".messages GROUP BY channel, status ORDER BY channel, status`,
    );
    const statuses = [...new Set(rows.map((r) => r.status))].sort();
    console.log('\nmessages per channel and status (read from Postgres)');
    console.log(['channel'.padEnd(10), ...statuses.map((s) => s.padStart(12)), 'total'.padStart(8)].join(''));
    let consistent = true;
    for (const [channel, id] of Object.entries(batches)) {
      const counts = Object.fromEntries(rows.filter((r) => r.channel === channel).map((r) => [r.status, r.n]));
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      console.log([channel.padEnd(10), ...statuses.map((s) => String(counts[s] ?? 0).padStart(12)), String(total).padStart(8)].join(''));
      const batch = await courier.messages.getBatch(id);
      consistent &&= !!batch && batch.total === total && statuses.every((s) => (batch.byStatus as Record<string, number>)[s] === (counts[s] ?? 0));
    }
    const facts = await courier.pool.query<{ deferred: number; ignored: number; suppressed: number }>(
      `SELECT (SELECT count(*)::int FROM "${schema}".message_attempts WHERE outcome = 'rate_limited') AS deferred,
              (SELECT count(*)::int FROM "${schema}".message_events WHERE NOT applied) AS ignored,
              (SELECT count(*)::int FROM "${schema}".suppressions) AS suppressed`,
    );
    const f = facts.rows[0];
    console.log(`\nrate-limited requests deferred (Retry-After honoured, no retry used): ${f?.deferred}`);
    console.log(`late or duplicate webhooks recorded but not applied (status never moves back): ${f?.ignored}`);
    console.log(`recipients suppressed (invalid number, unknown mailbox, not on WhatsApp): ${f?.suppressed}`);
    console.log(`batch progress matches the table: ${consistent ? 'yes' : 'NO'}`);
    const after = await afterTheCampaign(courier, { twilio, meta, smtp, hooks: web.url, customers: { sms: sms[1] as Person, email: email[1] as Person } });
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (!consistent || !after) process.exitCode = 1;
  } finally {
    await courier.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await courier.close({ grace: 0 });
    await Promise.all([twilio.close(), smtp.close(), meta.close(), web.close()]);
    await stopPostgres();
  }
}

type Person = { name: string; phone: string; email: string };

/**
 * After the campaign: a customer texts STOP, an email bounces (a DSN comes back to
 * the bounce mailbox), and a WhatsApp message to a number not on WhatsApp falls back
 * to SMS. Returns whether each ended as it should.
 */
async function afterTheCampaign(
  courier: MessagingCourier,
  ctx: { twilio: Awaited<ReturnType<typeof startTwilioPeer>>; meta: Awaited<ReturnType<typeof startMetaPeer>>; smtp: Awaited<ReturnType<typeof startSmtpPeer>>; hooks: string; customers: Record<'sms' | 'email', Person> },
): Promise<boolean> {
  const { twilio, meta, smtp, customers } = ctx;
  const until = async (id: string, statuses: string[]) => {
    for (let i = 0; i < 200; i++) {
      const m = await courier.messages.get(id);
      if (m && statuses.includes(m.status)) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`message ${id} did not reach ${statuses.join('|')}`);
  };
  await courier.start({ concurrency: 4, pollInterval: 0.1 });
  console.log('\nafter the campaign');

  // 1. An inbound STOP (Twilio's inbound webhook, signed) suppresses that customer for our number.
  await twilio.inbound(`${ctx.hooks}/hooks/twilio`, { from: customers.sms.phone, to: '+15550001111', body: 'STOP' });
  const blocked = await courier.messages.send({ channel: 'sms', to: customers.sms.phone, body: 'Last chance: 20% off ends tonight' });
  const stopOk = (await until(blocked, ['failed', 'sent', 'delivered'])).error?.code === 'suppressed';
  console.log(`  ${customers.sms.phone} replied STOP: the next SMS to them was ${stopOk ? 'not sent (suppressed for +15550001111)' : 'SENT (wrong)'}`);

  // 2. A bounce: the receiving server accepted the email, then returned a DSN (RFC 3464).
  const mail = smtp.received.find((m) => m.rcptTo.includes(customers.email.email));
  const headers = (mail?.raw.toString('utf8') ?? '').split('\r\n\r\n')[0] ?? '';
  const dsn = [
    'From: MAILER-DAEMON@mx.example.test',
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-boundary"',
    '',
    '--dsn-boundary',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.test',
    '',
    `Final-Recipient: rfc822; ${customers.email.email}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist',
    '',
    '--dsn-boundary',
    'Content-Type: text/rfc822-headers',
    '',
    headers,
    '',
    '--dsn-boundary--',
    '',
  ].join('\r\n');
  const { messageId: bounced } = await courier.messages.applyDsn(dsn);
  const bounceOk = !!bounced && (await courier.messages.get(bounced))?.status === 'undelivered' && (await courier.messages.suppression('email', customers.email.email))?.code === '5.1.1';
  console.log(`  ${customers.email.email} bounced (DSN 5.1.1): ${bounceOk ? 'undelivered, and suppressed' : 'NOT applied (wrong)'}`);

  // 3. A fallback: WhatsApp says the number is not on WhatsApp (131026 by webhook); the SMS goes instead.
  const wa = '+15559999999';
  meta.lifecycle = (s) => (s.to === wa.slice(1) ? [{ status: 'failed', delay: 20, errorCode: 131026 }] : [{ status: 'read', delay: 20 }]);
  const first = await courier.messages.send({ channel: 'whatsapp', to: wa, body: 'Your order #1042 shipped', fallback: { channel: 'sms', body: 'Your order #1042 shipped' } });
  await until(first, ['failed']);
  let fallbackId: string | undefined;
  for (let i = 0; i < 200 && !fallbackId; i++) {
    fallbackId = (await courier.pool.query<{ id: string }>(`SELECT id FROM "${courier.schema}".messages WHERE parent_id = $1`, [first])).rows[0]?.id;
    if (!fallbackId) await new Promise((r) => setTimeout(r, 50));
  }
  const fb = fallbackId ? await until(fallbackId, ['sent', 'delivered', 'failed']) : null;
  const fallbackOk = !!fb && fb.channel === 'sms' && fb.relation === 'channel_fallback' && fb.status !== 'failed';
  console.log(`  ${wa} is not on WhatsApp (131026): ${fallbackOk ? `fell back to SMS (${fb?.status}), linked to the WhatsApp message` : 'NO fallback (wrong)'}`);
  await courier.stop({ grace: 5 });
  return stopOk && bounceOk && fallbackOk;
}

function bar(fraction: number): string {
  const width = 30;
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
