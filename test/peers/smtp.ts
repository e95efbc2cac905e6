// A real SMTP server (smtp-server) on 127.0.0.1:0 with STARTTLS or implicit TLS,
// AUTH PLAIN/LOGIN, a recorder of every accepted message's raw bytes, and
// scripted replies per stage.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import { type TestCert, testCert } from './cert.js';

/** A message the peer accepted. */
export interface ReceivedMail {
  /** The AUTH identity. */
  user: string | undefined;
  /** Whether the session ran over TLS when the message arrived. */
  secure: boolean;
  mailFrom: string;
  rcptTo: string[];
  /** The RFC 5322 bytes exactly as received. */
  raw: Buffer;
  at: number;
}

/** A scripted reply: at `stage`, for addresses matching `match`, `times` times (default once). */
export type SmtpRule =
  | { stage: 'AUTH' | 'MAIL' | 'RCPT' | 'DATA'; match?: RegExp; code: number; text: string; times?: number }
  | { stage: 'DATA'; match?: RegExp; drop: true; times?: number };

/** The running peer. */
export interface SmtpPeer {
  port: number;
  cert: TestCert;
  received: ReceivedMail[];
  /** Every AUTH attempt (user, method, whether over TLS). */
  auths: Array<{ user: string | undefined; method: string; secure: boolean }>;
  script(rule: SmtpRule): void;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/** Starts an SMTP peer. `secure: true` = implicit TLS (465 style), else STARTTLS (587 style). */
export async function startSmtpPeer(options: { secure?: boolean; users?: Record<string, string> } = {}): Promise<SmtpPeer> {
  const cert = testCert();
  const users = options.users ?? { courier: 'smtp-pass-s3cret' };
  const received: ReceivedMail[] = [];
  const auths: SmtpPeer['auths'] = [];
  const rules: Array<SmtpRule & { left: number }> = [];

  const take = (stage: SmtpRule['stage'], address: string) => {
    const i = rules.findIndex((r) => r.stage === stage && (!r.match || r.match.test(address)));
    if (i < 0) return undefined;
    const rule = rules[i] as SmtpRule & { left: number };
    if (--rule.left <= 0) rules.splice(i, 1);
    return rule;
  };
  const reply = (rule: SmtpRule | undefined) => (rule && 'code' in rule ? smtpError(rule.code, rule.text) : null);

  const server: SMTPServer = new SMTPServer({
    secure: options.secure ?? false,
    key: cert.key,
    cert: cert.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    logger: false,
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb) {
      auths.push({ user: auth.username, method: auth.method, secure: session.secure });
      const err = reply(take('AUTH', auth.username ?? ''));
      if (err) return cb(err);
      if (auth.username && users[auth.username] === auth.password) return cb(null, { user: auth.username });
      cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
    },
    onMailFrom(address, _session, cb) {
      cb(reply(take('MAIL', address.address)) ?? undefined);
    },
    onRcptTo(address, _session, cb) {
      cb(reply(take('RCPT', address.address)) ?? undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address).join(',');
        const rule = take('DATA', to);
        if (rule && 'drop' in rule) {
          // The whole message arrived; the connection dies before the reply.
          for (const c of (server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }).connections) {
            if (c.id === session.id) c._socket.destroy();
          }
          return;
        }
        const err = reply(rule);
        if (err) return cb(err);
        received.push({
          user: session.user as string | undefined,
          secure: session.secure,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          at: Date.now(),
        });
        cb(null, `Queued as P${received.length}`);
      });
    },
  });
  // An aborted TLS handshake must not crash the test process.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
  return {
    port,
    cert,
    received,
    auths,
    script(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
