/**
 * The connections a courier makes: its pool (one server, or the writable one of
 * several), where its LISTEN connection goes, and whether named prepared
 * statements may be used.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { connectionStringProblem } from '../config.js';
import type { DoctorCheck } from '../doctor.js';
import { ValidationError } from '../errors.js';
import { HostSelector, type MultiHostClient, multiHostClientClass } from './host-selector.js';
import { type ConnectionTarget, formatHost, type HostPort, type HostSpec, parseConnectionTarget } from './hosts.js';
import { disableNamedStatements, namedStatementsOff, watchPool } from './pool.js';

/** LISTEN connections sit idle for long: TCP keepalive finds a dead peer. */
const KEEPALIVE = { keepAlive: true };

/** Where a dedicated LISTEN connection goes. */
export interface ListenSource {
  /** Equal keys reach the same server(s) as the same user: one LISTEN connection serves them all. */
  readonly key: string;
  /** A new, unconnected client. */
  newClient(): pg.Client;
  /** Calls `listener` with the new server after a failover; returns the unsubscribe. */
  onMove(listener: (server: HostPort) => void): () => void;
}

const selectors = new WeakMap<pg.Pool, HostSelector>();
/** One selector per target in the process: pools and LISTEN connections on the same servers probe once and move together. */
const selectorsByTarget = new Map<string, HostSelector>();

function selectorFor(target: ConnectionTarget, logger: Logger): HostSelector {
  const key = JSON.stringify([target.url, target.hosts, target.attrs]);
  let selector = selectorsByTarget.get(key);
  if (!selector) selectorsByTarget.set(key, (selector = new HostSelector(target, logger)));
  return selector;
}

/**
 * Creates the pool pgcourier owns over a one- or multi-host URL (`hosts`
 * replacing the URL's servers). With several servers, or `target_session_attrs`,
 * every new connection goes to the server a {@link HostSelector} picks, and
 * errors that signal a failover make it look again; a client that saw one is
 * dropped when released. Errors of idle clients are logged, never fatal.
 */
export function createPool(connectionString: string, logger: Logger, max = 10, hosts?: readonly HostSpec[]): pg.Pool {
  const target = parseConnectionTarget(connectionString, hosts);
  // A connect that never completes (server gone, packets dropped) must fail, not hang.
  const options: pg.PoolConfig = { connectionString: target.url, max, connectionTimeoutMillis: 10_000 };
  if (target.hosts.length === 1 && target.attrs === 'any') {
    const pool = new pg.Pool(options);
    watchPool(pool, logger);
    return pool;
  }
  const selector = selectorFor(target, logger);
  const pool = new pg.Pool({ ...options, Client: multiHostClientClass(selector) });
  selectors.set(pool, selector);
  watchPool(pool, logger);
  // pg-pool checks `_ending` right after 'release': ending a client that saw a failover keeps it out of the pool.
  pool.on('release', (_err, client) => {
    if ((client as unknown as MultiHostClient).stale) client.end().catch(() => {});
  });
  return pool;
}

/** LISTEN connections to the pool's server(s), as the pool's user; they follow its failovers. */
export function listenSourceOfPool(pool: pg.Pool): ListenSource {
  const options = (pool as unknown as { options: pg.PoolConfig }).options;
  const selector = selectors.get(pool);
  const { connectionString, host, port, user, database, password } = options;
  const key = JSON.stringify([connectionString, host, port, user, database, typeof password === 'string' ? password : null, selector?.target.hosts ?? null]);
  if (!selector) return { key, newClient: () => new pg.Client({ ...options, ...KEEPALIVE }), onMove: () => () => {} };
  const Client = multiHostClientClass(selector);
  return { key, newClient: () => new Client({ ...options, ...KEEPALIVE }), onMove: (listener) => selector.onMove(listener) };
}

/** LISTEN connections of `listenConnectionString` (one or several servers). */
export function listenSourceOfUrl(url: string, logger: Logger): ListenSource {
  const target = parseConnectionTarget(url);
  const options: pg.ClientConfig = { connectionString: target.url, connectionTimeoutMillis: 10_000 };
  const key = JSON.stringify(['url', target.url, target.hosts, target.attrs]);
  if (target.hosts.length === 1 && target.attrs === 'any') return { key, newClient: () => new pg.Client({ ...options, ...KEEPALIVE }), onMove: () => () => {} };
  const selector = selectorFor(target, logger);
  const Client = multiHostClientClass(selector);
  return { key, newClient: () => new Client({ ...options, ...KEEPALIVE }), onMove: (listener) => selector.onMove(listener) };
}

/** The connection options of `createCourier`, validated by zod already. */
export interface ConnectionOptions {
  connectionString?: string;
  pool?: pg.Pool;
  poolSize?: number;
  hosts?: readonly HostSpec[];
  listenConnectionString?: string;
  preparedStatements?: boolean;
  readConnectionString?: string;
}

/** What a courier connects through. */
export interface CourierConnections {
  pool: pg.Pool;
  /** The courier made `pool` (and ends it on close). */
  ownsPool: boolean;
  /** A pool on a replica for status, lists and metrics, or `undefined` to read from `pool`. */
  readPool: pg.Pool | undefined;
  /** Where LISTEN goes, or `null`: poll only. */
  listen: ListenSource | null;
  /** The findings `courier.doctor()` reports about them. */
  checks(): DoctorCheck[];
  /** Sizes the courier's own pool for a worker of `concurrency` slots, unless `poolSize` was given. */
  fitPool(concurrency: number): void;
}

/**
 * Connections a worker of `concurrency` slots uses by default: claims and settles
 * are batched, so a few carry any concurrency; the rest serve handlers that enqueue
 * or report progress. At least 10 (the size before `start()`), at most 50.
 */
export function poolSizeFor(concurrency: number): number {
  return Math.min(50, Math.max(10, 4 + Math.ceil(concurrency / 4)));
}

/** Turns an unusable URL into a {@link ValidationError} naming `field`. */
function checkedTarget(field: string, url: string, hosts?: readonly HostSpec[]): ReturnType<typeof parseConnectionTarget> {
  const problem = connectionStringProblem(url);
  if (problem) throw new ValidationError('createCourier', field, problem);
  try {
    return parseConnectionTarget(url, hosts);
  } catch (err) {
    throw new ValidationError('createCourier', hosts ? 'hosts' : field, (err as Error).message);
  }
}

/**
 * Builds a courier's connections from its options: the pool (the caller's, left
 * as it is, or one of its own over one or several servers), the replica pool, and
 * where LISTEN goes. `preparedStatements: false` means "behind a pooler in
 * transaction mode": LISTEN through it would miss notifications, so without a
 * `listenConnectionString` the workers poll, which is logged once here.
 */
export function courierConnections(opts: ConnectionOptions, envUrl: string | undefined, logger: Logger): CourierConnections {
  let pool: pg.Pool;
  if (opts.pool) {
    if (opts.hosts) throw new ValidationError('createCourier', 'hosts', 'applies to the pool the courier creates; a pool you pass is used as it is (give connectionString or DATABASE_URL instead of pool)');
    pool = opts.pool;
    watchPool(pool, logger);
  } else {
    const url = opts.connectionString ?? envUrl;
    if (!url) throw new ValidationError('createCourier', 'connectionString', 'is required (or pass `pool`, or set DATABASE_URL)');
    checkedTarget(opts.connectionString ? 'connectionString' : 'DATABASE_URL', url, opts.hosts);
    pool = createPool(url, logger, opts.poolSize ?? 10, opts.hosts);
  }
  if (opts.preparedStatements === false) disableNamedStatements(pool);
  let readPool: pg.Pool | undefined;
  if (opts.readConnectionString) {
    checkedTarget('readConnectionString', opts.readConnectionString);
    readPool = createPool(opts.readConnectionString, logger, Math.min(opts.poolSize ?? 10, 5));
    if (opts.preparedStatements === false) disableNamedStatements(readPool);
  }
  let listen: ListenSource | null;
  if (opts.listenConnectionString) {
    checkedTarget('listenConnectionString', opts.listenConnectionString);
    listen = listenSourceOfUrl(opts.listenConnectionString, logger);
  } else if (opts.preparedStatements === false) {
    listen = null;
    logger.warn(POLL_ONLY);
  } else {
    listen = listenSourceOfPool(pool);
  }
  const selector = selectors.get(pool);
  return {
    pool,
    ownsPool: !opts.pool,
    readPool,
    listen,
    fitPool(concurrency) {
      if (opts.pool || opts.poolSize !== undefined) return;
      (pool as unknown as { options: pg.PoolConfig }).options.max = poolSizeFor(concurrency);
    },
    checks() {
      const found: DoctorCheck[] = [];
      if (selector) {
        const current = selector.current;
        found.push({
          name: 'servers',
          level: current ? 'ok' : 'warn',
          detail: `${selector.target.hosts.map(formatHost).join(', ')} (target_session_attrs=${selector.target.attrs}): ${current ? `using ${formatHost(current)}` : 'none chosen yet or the last one failed'}`,
        });
      }
      found.push(
        listen === null
          ? { name: 'listen', level: 'warn', detail: POLL_ONLY }
          : { name: 'listen', level: 'ok', detail: opts.listenConnectionString ? 'LISTEN through listenConnectionString' : 'LISTEN on the main connection' },
      );
      if (namedStatementsOff(pool)) found.push({ name: 'prepared statements', level: 'ok', detail: opts.preparedStatements === false ? 'off (preparedStatements: false)' : 'off: a pooler mixed up named statements, detected' });
      return found;
    },
  };
}

const POLL_ONLY =
  'poll-only: preparedStatements is false (a transaction-mode pooler) and no listenConnectionString is set, so no LISTEN: workers poll every 2 s (the pollInterval start option) and waitForTask re-reads every second; set listenConnectionString to a direct connection for instant wake-ups';
