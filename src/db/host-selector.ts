import pg from 'pg';
import type { Logger } from 'pino';
import { type ConnectionTarget, formatHost, type HostPort } from './hosts.js';

/**
 * Errors after which the server in use may no longer be the one to use: it went
 * read-only (25006, a demoted primary), is shutting down or crashed (57P01-57P03),
 * or the connection broke (08xxx, socket errors).
 */
export function signalsFailover(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (code === '25006' || code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('08')) return true;
    if (/^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|CONNABORTED)$/.test(code)) return true;
  }
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

/** The check libpq runs for `target_session_attrs`, as one statement. */
const CHECK_SQL = "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only";

/** Why a server that accepted the session does not fit `attrs`, or `null` when it does. */
export async function sessionMismatch(client: pg.Client, attrs: ConnectionTarget['attrs']): Promise<string | null> {
  if (attrs === 'any') return null;
  const { rows } = await client.query<{ standby: boolean; read_only: boolean }>(CHECK_SQL);
  const row = rows[0];
  if (attrs === 'primary') return row?.standby ? 'is a standby (in recovery)' : null;
  return row?.read_only ? (row.standby ? 'is a standby (in recovery)' : 'is read-only (transaction_read_only is on)') : null;
}

/** No server of the list fits: each one's reason, hosts only (no secrets). */
export class NoSuitableHostError extends Error {
  readonly code = 'PGCOURIER_NO_HOST';
  constructor(
    readonly attrs: string,
    readonly reasons: string[],
  ) {
    super(`no server fits target_session_attrs=${attrs}: ${reasons.join('; ')}`);
  }
}

/** Options of a {@link HostSelector}. */
export interface HostSelectorOptions {
  /** Seconds a probe connection may take to connect (default 5). */
  connectTimeout?: number;
}

/**
 * Picks the server of a multi-host target that fits its `target_session_attrs`,
 * the way libpq does: tries the hosts in order, connects, and checks
 * `pg_is_in_recovery()` / `transaction_read_only`. The choice is kept until a
 * connection to it reports a failover ({@link signalsFailover}); the next
 * connection then probes again. One probe runs at a time, whoever asks.
 */
export class HostSelector {
  readonly target: ConnectionTarget;
  readonly #logger: Logger;
  readonly #connectTimeout: number;
  #current: HostPort | undefined;
  #probing: Promise<HostPort> | undefined;
  #previous: HostPort | undefined;
  readonly #moves = new Set<(host: HostPort) => void>();

  constructor(target: ConnectionTarget, logger: Logger, options: HostSelectorOptions = {}) {
    this.target = target;
    this.#logger = logger;
    this.#connectTimeout = options.connectTimeout ?? 5;
  }

  /** The server in use, or `undefined` until one is found (or after it failed). */
  get current(): HostPort | undefined {
    return this.#current;
  }

  /** The server to connect to: the one in use, else the first that fits, probed now. */
  select(): Promise<HostPort> {
    if (this.#current) return Promise.resolve(this.#current);
    if (this.target.attrs === 'any' && this.target.hosts.length === 1) return Promise.resolve(this.target.hosts[0] as HostPort);
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  /** A connection to `host` reported `err`: if it signals a failover, forget `host` so the next connection probes again. */
  failed(host: HostPort, err: unknown): void {
    if (!signalsFailover(err) || !this.#current || !sameHost(this.#current, host)) return;
    this.#logger.warn({ host: formatHost(host), err: (err as Error)?.message }, 'database server lost or read-only; looking for the writable one');
    this.#current = undefined;
  }

  /** Calls `listener` with the new server whenever the one in use changes to another; returns the unsubscribe. */
  onMove(listener: (host: HostPort) => void): () => void {
    this.#moves.add(listener);
    return () => this.#moves.delete(listener);
  }

  async #probe(): Promise<HostPort> {
    const reasons: string[] = [];
    for (const host of this.target.hosts) {
      const client = newClientFor(this.target.url, host, { connectionTimeoutMillis: this.#connectTimeout * 1000 });
      client.on('error', () => {});
      try {
        await client.connect();
        const mismatch = await sessionMismatch(client, this.target.attrs);
        if (mismatch) {
          reasons.push(`${formatHost(host)} ${mismatch}`);
          continue;
        }
        this.#choose(host);
        return host;
      } catch (err) {
        reasons.push(`${formatHost(host)}: ${(err as Error).message}`);
      } finally {
        client.end().catch(() => {});
      }
    }
    throw new NoSuitableHostError(this.target.attrs, reasons);
  }

  #choose(host: HostPort): void {
    const previous = this.#previous;
    this.#current = host;
    this.#previous = host;
    if (previous && !sameHost(previous, host)) {
      this.#logger.warn({ from: formatHost(previous), to: formatHost(host) }, 'database server changed (failover)');
      for (const listener of this.#moves) listener(host);
    } else if (!previous) {
      this.#logger.debug({ host: formatHost(host) }, 'database server chosen');
    }
  }
}

export function sameHost(a: HostPort, b: HostPort): boolean {
  return a.host === b.host && a.port === b.port;
}

/** A `pg.Client` for `url` (one host) pointed at `host` instead. */
function newClientFor(url: string, host: HostPort, config: pg.ClientConfig = {}): pg.Client {
  const client = new pg.Client({ ...config, connectionString: url });
  aim(client, host);
  return client;
}

/** pg reads `host` and `port` off the client when it connects (the connection string's were parsed into them). */
function aim(client: pg.Client, host: HostPort): void {
  const c = client as unknown as { host: string; port: number };
  c.host = host.host;
  c.port = host.port;
}

/** What a pool client of a multi-host target carries (see {@link multiHostClientClass}). */
export interface MultiHostClient extends pg.Client {
  /** The server this client connected to. */
  readonly server: HostPort | undefined;
  /** A statement reported a failover: the pool must not hand this client out again. */
  readonly stale: boolean;
}

type Callback = (err: Error | null, result?: unknown) => void;

/**
 * A `pg.Client` class whose instances connect to the server `selector` picks,
 * check it fits the target (a server can change role between the probe and this
 * connection) and tell the selector about errors that signal a failover. Give it
 * to `pg.Pool` as `Client`, and to LISTEN connections.
 */
export function multiHostClientClass(selector: HostSelector): typeof pg.Client {
  class Client extends pg.Client {
    server: HostPort | undefined;
    stale = false;

    // pg's overloads: a promise, or a callback (what pg-pool uses)
    override connect(callback?: any): any {
      const done = this.#connect().then(() => this);
      if (!callback) return done;
      done.then(
        () => callback(null, this),
        (err) => callback(err as Error),
      );
    }

    async #connect(): Promise<void> {
      const host = await selector.select();
      this.server = host;
      aim(this as unknown as pg.Client, host);
      this.on('error', (err) => selector.failed(host, err));
      await super.connect();
      let mismatch: string | null;
      try {
        mismatch = await sessionMismatch(this as unknown as pg.Client, selector.target.attrs);
      } catch (err) {
        await this.end().catch(() => {});
        selector.failed(host, err);
        throw err;
      }
      if (mismatch) {
        await this.end().catch(() => {});
        // The server changed role since the probe: reported as Postgres reports a write there (read-only, 25006).
        const err = Object.assign(new Error(`database server ${formatHost(host)} ${mismatch}`), { code: '25006' });
        selector.failed(host, err);
        throw err;
      }
    }

    override query(...args: any[]): any {
      const last = args.length - 1;
      if (typeof args[last] === 'function') {
        const callback = args[last] as Callback;
        args[last] = (err: Error | null, result?: unknown) => {
          if (err) this.#noticed(err);
          callback(err, result);
        };
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      const out = (super.query as (...a: unknown[]) => unknown)(...args);
      if (out instanceof Promise) out.catch((err) => this.#noticed(err));
      return out;
    }

    #noticed(err: unknown): void {
      if (!this.server || !signalsFailover(err)) return;
      this.stale = true;
      selector.failed(this.server, err);
    }
  }
  return Client as unknown as typeof pg.Client;
}
