import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSelector, NoSuitableHostError, signalsFailover } from '../../src/db/host-selector.js';
import { formatHost, parseConnectionTarget, parseHostPort } from '../../src/db/hosts.js';
import { createCourier, ValidationError } from '../../src/index.js';

describe('multi-host connection strings', () => {
  it('takes several hosts apart and hands pg a one-host URL without target_session_attrs', () => {
    const t = parseConnectionTarget('postgres://u:p%40ss@h1:5432,h2:5433,[::1]:5434/db?sslmode=disable&target_session_attrs=primary&application_name=x');
    expect(t.hosts).toEqual([
      { host: 'h1', port: 5432 },
      { host: 'h2', port: 5433 },
      { host: '::1', port: 5434 },
    ]);
    expect(t.attrs).toBe('primary');
    expect(t.url).toBe('postgres://u:p%40ss@h1:5432/db?sslmode=disable&application_name=x');
  });

  it('defaults to read-write with several hosts and to any with one (as before)', () => {
    expect(parseConnectionTarget('postgres://u@a,b/db').attrs).toBe('read-write');
    expect(parseConnectionTarget('postgres://u@a,b/db').hosts).toEqual([
      { host: 'a', port: 5432 },
      { host: 'b', port: 5432 },
    ]);
    const one = parseConnectionTarget('postgresql://u:p@localhost:6000/db');
    expect(one).toEqual({ hosts: [{ host: 'localhost', port: 6000 }], attrs: 'any', url: 'postgresql://u:p@localhost:6000/db' });
    expect(parseConnectionTarget('postgres://u@h/db?target_session_attrs=read-write').url).toBe('postgres://u@h:5432/db');
  });

  it('lets the hosts option replace the URL servers', () => {
    const t = parseConnectionTarget('postgres://u:p@ignored:1/db', ['10.0.0.1:5433', { host: 'db2' }]);
    expect(t.hosts).toEqual([
      { host: '10.0.0.1', port: 5433 },
      { host: 'db2', port: 5432 },
    ]);
    expect(t.url).toBe('postgres://u:p@10.0.0.1:5433/db');
    expect(t.attrs).toBe('read-write');
  });

  it('refuses standby targets and unknown values without echoing the URL', () => {
    expect(() => parseConnectionTarget('postgres://u:secret@a,b/db?target_session_attrs=standby')).toThrow(/routes to a standby/);
    expect(() => parseConnectionTarget('postgres://u:secret@a,b/db?target_session_attrs=bogus')).toThrow(/must be read-write, primary or any/);
    try {
      parseConnectionTarget('postgres://u:secret@a,b/db?target_session_attrs=bogus');
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });

  it('reads host:port entries', () => {
    expect(parseHostPort('[2001:db8::1]:6543')).toEqual({ host: '2001:db8::1', port: 6543 });
    expect(parseHostPort('')).toEqual({ host: 'localhost', port: 5432 });
    expect(() => parseHostPort('h:70000')).toThrow(/outside 1-65535/);
    expect(() => parseHostPort('a b')).toThrow(/"host" or "host:port"/);
    expect(formatHost({ host: '::1', port: 5 })).toBe('[::1]:5');
  });

  it('createCourier names the field of a bad hosts option and refuses hosts with a pool', async () => {
    expect(() => createCourier({ connectionString: 'postgres://u:p@h/db', hosts: ['h:99999'] })).toThrow(ValidationError);
    expect(() => createCourier({ connectionString: 'postgres://u:p@h/db', hosts: ['h:99999'] })).toThrow(/hosts/);
    expect(() => createCourier({ connectionString: 'postgres://u:p@h1,h2/db?target_session_attrs=standby' })).toThrow(/connectionString.*standby/);
    expect(() => createCourier({ connectionString: 'postgres://u:p@h/db', listenConnectionString: 'mysql://x' })).toThrow(/listenConnectionString/);
    const pg = (await import('pg')).default;
    const pool = new pg.Pool({ connectionString: 'postgres://u:p@h/db' });
    expect(() => createCourier({ pool, hosts: ['a', 'b'] })).toThrow(/a pool you pass is used as it is/);
    await pool.end();
  });
});

describe('failover signals', () => {
  it('are read-only, shutdown and connection errors, not statement errors', () => {
    for (const code of ['25006', '57P01', '57P02', '57P03', '08006', '08001', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE']) expect(signalsFailover({ code })).toBe(true);
    expect(signalsFailover(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['23505', '40001', '42P01', '57014', undefined]) expect(signalsFailover({ code, message: 'x' })).toBe(false);
  });
});

describe('HostSelector without a server', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  /** A TCP server that closes every connection at once: a host that is up but never a Postgres session. */
  async function closingPort(): Promise<number> {
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }

  it('tries every host in order and reports each one, hosts only', async () => {
    const a = await closingPort();
    const b = await closingPort();
    const selector = new HostSelector(parseConnectionTarget(`postgres://u:secret@127.0.0.1:${a},127.0.0.1:${b}/db`), pino({ level: 'silent' }), { connectTimeout: 2 });
    const err = await selector.select().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoSuitableHostError);
    const reasons = (err as NoSuitableHostError).reasons;
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${a}: `));
    expect(reasons[1]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${b}: `));
    expect((err as Error).message).not.toContain('secret');
    expect(selector.current).toBeUndefined();
  });

  it('shares one probe among concurrent callers', async () => {
    const a = await closingPort();
    let connections = 0;
    servers[0]?.on('connection', () => connections++);
    const selector = new HostSelector(parseConnectionTarget(`postgres://u@127.0.0.1:${a},127.0.0.1:${a}/db`), pino({ level: 'silent' }), { connectTimeout: 2 });
    const all = await Promise.allSettled([selector.select(), selector.select(), selector.select()]);
    expect(all.every((r) => r.status === 'rejected')).toBe(true);
    expect(connections).toBe(2); // one probe: each of the two listed hosts once
  });
});
