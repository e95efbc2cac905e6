/**
 * Multi-host connection strings, read the way libpq reads them:
 * `postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write`. node-postgres
 * knows one host only, so the hosts are taken out here and the rest of the URL is
 * handed to `pg` with the first host in their place; {@link HostSelector} then
 * picks the server (see `host-selector.ts`).
 */

/** One server of a multi-host target. */
export interface HostPort {
  host: string;
  port: number;
}

/** A server as an option gives it: `"host:port"` (or `"host"`) or `{ host, port }` (port 5432 when left out). */
export type HostSpec = string | { host: string; port?: number };

/**
 * Which server of several to use, libpq's `target_session_attrs`: `read-write`
 * (a session where `transaction_read_only` is off), `primary` (not in recovery) or
 * `any` (the first that accepts the connection).
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

/** A connection string taken apart: its servers, the target and a one-host URL for `pg`. */
export interface ConnectionTarget {
  hosts: HostPort[];
  attrs: TargetSessionAttrs;
  /** The URL with only the first host and without `target_session_attrs`: what `pg` parses for the rest (user, database, TLS). */
  url: string;
}

const ATTRS = new Set<string>(['any', 'read-write', 'primary']);
/** libpq's other values: they route to standbys, which a queue cannot write to. */
const STANDBY_ATTRS = new Set<string>(['read-only', 'standby', 'prefer-standby']);

/**
 * Takes a (possibly multi-host) `postgres://` URL apart, with the servers of the
 * `hosts` option in place of the URL's when given. Several servers without
 * `target_session_attrs` mean `read-write`: a queue must write, so unlike libpq
 * the default is never "the first that answers". Throws an Error in words that
 * never repeat the URL (it may hold a password); the URL is assumed to have passed
 * `connectionStringProblem`.
 */
export function parseConnectionTarget(url: string, hosts?: readonly HostSpec[]): ConnectionTarget {
  const m = /^(postgres(?:ql)?:\/\/)([^/?#]*)([/?#].*)?$/is.exec(url);
  if (!m) throw new Error('must be a postgres:// or postgresql:// URL');
  const [, scheme, authority = '', rest = ''] = m;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at + 1);
  const fromUrl = authority
    .slice(at + 1)
    .split(',')
    .map((h) => parseHostPort(h));
  const servers = hosts && hosts.length > 0 ? hosts.map((h) => (typeof h === 'string' ? parseHostPort(h) : { host: h.host, port: h.port ?? 5432 })) : fromUrl;
  const { query, without } = takeParam(rest, 'target_session_attrs');
  if (query !== undefined && STANDBY_ATTRS.has(query)) {
    throw new Error(`target_session_attrs=${query} routes to a standby, where tasks cannot be written; use read-write or primary (readConnectionString is for replica reads)`);
  }
  if (query !== undefined && !ATTRS.has(query)) throw new Error('target_session_attrs must be read-write, primary or any');
  const attrs = (query ?? (servers.length > 1 ? 'read-write' : 'any')) as TargetSessionAttrs;
  const first = servers[0] as HostPort;
  return { hosts: servers, attrs, url: `${scheme}${userinfo}${formatHost(first)}${without}` };
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`; an empty host is localhost as in libpq. */
export function parseHostPort(text: string): HostPort {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]@/,]*)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new Error('hosts must be "host" or "host:port" entries');
  const port = m[2] === undefined ? 5432 : Number(m[2]);
  if (port < 1 || port > 65_535) throw new Error('hosts has a port outside 1-65535');
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? 'localhost' : host, port };
}

/** `host:port` for logs and errors (hosts carry no secrets). */
export function formatHost(h: HostPort): string {
  return `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
}

/** The value of a query parameter and the rest of the URL without it. */
function takeParam(rest: string, name: string): { query: string | undefined; without: string } {
  const q = rest.indexOf('?');
  if (q === -1) return { query: undefined, without: rest };
  const hash = rest.indexOf('#', q);
  const search = rest.slice(q + 1, hash === -1 ? undefined : hash);
  let value: string | undefined;
  const kept = search.split('&').filter((pair) => {
    const [k, v = ''] = pair.split('=');
    if (decodeURIComponent(k ?? '') !== name) return true;
    value = decodeURIComponent(v);
    return false;
  });
  const path = rest.slice(0, q);
  return { query: value, without: `${path}${kept.length > 0 && kept.join('') !== '' ? `?${kept.join('&')}` : ''}${hash === -1 ? '' : rest.slice(hash)}` };
}
