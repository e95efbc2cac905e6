import type pg from 'pg';

/**
 * Copies one finished row `count` times with a single INSERT … SELECT over
 * generate_series, so the history has the peer's own row shape. `set` maps a
 * column to an SQL expression that may use `g` (1…count) and the template's
 * columns; identity and generated columns take their defaults.
 */
export async function cloneFinishedRows(
  db: pg.Pool,
  table: string,
  spec: { template: string; set: Record<string, string> },
  count: number,
): Promise<void> {
  const [schema, name] = table.split('.') as [string, string];
  const { rows } = await db.query<{ column_name: string }>(
    `SELECT /* bench */ column_name FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 AND is_identity = 'NO' AND is_generated = 'NEVER'
      ORDER BY ordinal_position`,
    [schema, name],
  );
  const columns = rows.map((r) => r.column_name);
  for (const key of Object.keys(spec.set)) {
    if (!columns.includes(key)) throw new Error(`${table} has no column ${key}`);
  }
  const quoted = columns.map((c) => `"${c}"`);
  const values = columns.map((c) => spec.set[c] ?? `s."${c}"`);
  const { rowCount } = await db.query(
    `INSERT /* bench */ INTO ${table} (${quoted.join(', ')})
     SELECT ${values.join(', ')}
       FROM (SELECT * FROM ${table} WHERE ${spec.template} LIMIT 1) AS s, generate_series(1, $1::int) AS g`,
    [count],
  );
  if (rowCount !== count) throw new Error(`history preload of ${table}: no finished template row (inserted ${rowCount})`);
  await db.query(`VACUUM /* bench */ ANALYZE ${table}`);
}
