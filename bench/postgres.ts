import pg from 'pg';
import { type EmbeddedServer, startEmbeddedPostgres } from '../src/embedded.js';

/** Extra settings of the embedded server (on top of src/embedded.ts's fsync=off, max_connections=300). */
const BENCH_FLAGS = ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.max=20000', '-c', 'pg_stat_statements.track=top'];

/** The Postgres every peer runs on, with an admin connection to the maintenance database. */
export class BenchServer {
  readonly url: URL;
  readonly admin: pg.Pool;
  readonly embedded: EmbeddedServer | undefined;
  #seq = 0;

  private constructor(url: string, embedded: EmbeddedServer | undefined) {
    this.url = new URL(url);
    this.embedded = embedded;
    this.admin = new pg.Pool({ connectionString: url, max: 2 });
    this.admin.on('error', () => {});
  }

  /** Starts embedded Postgres, or uses DATABASE_URL when it is set. */
  static async start(): Promise<BenchServer> {
    const external = process.env.DATABASE_URL;
    const server = external ? new BenchServer(external, undefined) : await BenchServer.#embedded();
    await server.admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').catch(() => {});
    return server;
  }

  static async #embedded(): Promise<BenchServer> {
    const embedded = await startEmbeddedPostgres({ postgresFlags: BENCH_FLAGS });
    return new BenchServer(embedded.connectionString, embedded);
  }

  /** Creates an empty database and returns its URL; {@link BenchServer.drop} removes it. */
  async freshDatabase(label: string): Promise<string> {
    const name = `bench_${label.replace(/[^a-z0-9]+/g, '_')}_${process.pid}_${++this.#seq}`;
    await this.admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(this.url);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /**
   * Drops a database once the peer's connections are gone; connections still
   * open after a few seconds are reported, then terminated.
   */
  async drop(databaseUrl: string): Promise<string[]> {
    const name = new URL(databaseUrl).pathname.slice(1);
    let left: string[] = [];
    for (let tries = 0; tries < 60; tries++) {
      const { rows } = await this.admin.query<{ what: string }>(
        `/* bench */ SELECT coalesce(nullif(application_name, ''), '?') || ': ' || state || ': ' || left(query, 60) AS what
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [name],
      );
      left = rows.map((r) => r.what);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    return left;
  }

  /**
   * Statements per normalised query run so far in one database (pg_stat_statements), bench's own excluded:
   * those carry a `/* bench *\/` marker after their first keyword (pg_stat_statements drops a leading comment).
   */
  async statements(databaseUrl: string): Promise<Map<string, { query: string; calls: number; rows: number; ms: number }>> {
    const name = new URL(databaseUrl).pathname.slice(1);
    const { rows } = await this.admin.query<{ queryid: string; query: string; calls: string; rows: string; ms: number }>(
      `/* bench */ SELECT s.queryid::text AS queryid, s.query, s.calls, s.rows, s.total_exec_time AS ms
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1 AND s.query NOT LIKE '%/* bench */%'`,
      [name],
    );
    return new Map(rows.map((r) => [r.queryid, { query: r.query, calls: Number(r.calls), rows: Number(r.rows), ms: r.ms }]));
  }

  /**
   * Which Postgres this is (embedded, or the server DATABASE_URL names, without its
   * password), its version, whether fsync is on, and every setting not at its built-in default.
   */
  async describe(): Promise<{ source: 'embedded' | 'DATABASE_URL'; server: string; version: string; versionString: string; fsync: string; synchronousCommit: string; settings: Record<string, string> }> {
    const { rows: info } = await this.admin.query<{ v: string; full: string; fsync: string; sc: string }>(
      "/* bench */ SELECT current_setting('server_version') AS v, version() AS full, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc",
    );
    const version = info[0]?.v ?? '?';
    const { rows } = await this.admin.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
        WHERE source NOT IN ('default', 'override', 'client', 'session') AND name NOT LIKE 'lc_%'
           OR name IN ('shared_buffers', 'work_mem', 'synchronous_commit', 'fsync', 'max_connections', 'wal_level', 'autovacuum')
        ORDER BY name`,
    );
    return {
      source: this.embedded ? 'embedded' : 'DATABASE_URL',
      server: `${this.url.hostname}:${this.url.port || '5432'}`,
      version,
      versionString: info[0]?.full ?? '?',
      fsync: info[0]?.fsync ?? '?',
      synchronousCommit: info[0]?.sc ?? '?',
      settings: Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting])),
    };
  }

  async stop(): Promise<void> {
    await this.admin.end().catch(() => {});
    await this.embedded?.destroy();
  }
}

/** Subtracts two {@link BenchServer.statements} snapshots. */
export function statementDelta(
  before: Map<string, { calls: number; rows: number; ms: number }>,
  after: Map<string, { query: string; calls: number; rows: number; ms: number }>,
): Array<{ query: string; calls: number; rows: number; ms: number }> {
  const out = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    const calls = a.calls - (b?.calls ?? 0);
    if (calls > 0) out.push({ query: a.query, calls, rows: a.rows - (b?.rows ?? 0), ms: a.ms - (b?.ms ?? 0) });
  }
  return out.sort((x, y) => y.calls - x.calls);
}
