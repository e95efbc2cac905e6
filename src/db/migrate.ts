import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { ConflictError } from '../errors.js';
import type { PluginMigration } from '../plugins.js';
import { sqlNames } from './names.js';

/** Where the numbered SQL files live, from both `src/db` and `dist/db`. */
export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/** One numbered migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads `migrations/NNN_name.sql` in version order. */
export async function loadMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(join(dir, file), 'utf8'),
    })),
  );
}

/** Reads the SQL files of plugins and puts them beside the core's, refusing a version used twice. */
export async function withPluginMigrations(core: Migration[], plugins: readonly PluginMigration[]): Promise<Migration[]> {
  const all = [...core, ...(await Promise.all(plugins.map(async (m) => ({ version: m.version, name: m.name, sql: await m.sql() }))))];
  const seen = new Map<number, string>();
  for (const m of all) {
    const other = seen.get(m.version);
    if (other !== undefined) throw new ConflictError(`migrations "${other}" and "${m.name}" share version ${m.version}`);
    seen.set(m.version, m.name);
  }
  return all.sort((a, b) => a.version - b.version);
}

/**
 * Applies every pending migration (the core's, then those of the plugins given)
 * to `schema` in one transaction under an advisory lock, so concurrent callers
 * serialise and the later ones find nothing to do. Plugin migrations are recorded
 * in the same table, so a plugin's tables exist only where the plugin is used.
 * Returns the versions it applied.
 */
export async function migrate(pool: pg.Pool, schema: string, plugins: readonly PluginMigration[] = []): Promise<number[]> {
  const migrations = await withPluginMigrations(await loadMigrations(), plugins);
  const names = sqlNames(schema);
  const s = names.schema;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pgcourier.migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${names.migrations} (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${names.migrations}`);
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    // Unqualified names in the SQL files resolve to the target schema.
    await client.query(`SET LOCAL search_path TO ${s}, public`);
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${names.migrations} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
