import { NotMigratedError } from '../errors.js';

/** SQLSTATEs Postgres raises when a table (42P01) or schema (3F000) does not exist. */
const MISSING_OBJECT = new Set(['42P01', '3F000']);

/**
 * Whether `err` says that one of `schema`'s objects does not exist: the schema
 * was never migrated. Errors about the caller's own tables are left alone.
 */
export function isNotMigrated(err: unknown, schema: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !MISSING_OBJECT.has(code) || typeof message !== 'string') return false;
  return message.includes(`"${schema}.`) || message.includes(`"${schema}"`);
}

/**
 * The {@link NotMigratedError} that `err` amounts to for `schema`: its tables are
 * missing, or one of its functions is (42883, undefined function: the schema was
 * migrated by an older version). `undefined` for any other error.
 */
export function notMigratedError(err: unknown, schema: string): NotMigratedError | undefined {
  if (isNotMigrated(err, schema)) return new NotMigratedError(schema);
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (code !== '42883' || typeof message !== 'string') return undefined;
  // "function <schema>.<name>(<argument types>) does not exist", names as written, unquoted.
  const prefix = `function ${schema}.`;
  if (!message.startsWith(prefix)) return undefined;
  return new NotMigratedError(schema, `${message.slice(prefix.length, message.indexOf('(', prefix.length))}()`);
}

/**
 * Runs database work for one schema: first the pending automatic migration
 * (`createCourier({ migrate: true })`), then `work`; an error saying the
 * schema's tables are missing becomes a {@link NotMigratedError}.
 */
export class SchemaGuard {
  readonly #schema: string;
  readonly #migrate: (() => Promise<unknown>) | undefined;
  #migrated: Promise<unknown> | undefined;

  /** `migrate` is given when the courier migrates by itself before its first statement. */
  constructor(schema: string, migrate?: () => Promise<unknown>) {
    this.#schema = schema;
    this.#migrate = migrate;
  }

  /** Resolves once the automatic migration (if any) is done; a failed one is tried again on the next call. */
  ready(): Promise<unknown> {
    if (!this.#migrate) return Promise.resolve();
    this.#migrated ??= this.#migrate().catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    return this.#migrated;
  }

  /** Runs `work` after {@link SchemaGuard.ready}, translating "does not exist" errors about this schema. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      await this.ready();
      return await work();
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** `err`, or a {@link NotMigratedError} when it says this schema's tables or functions are missing. */
  translate(err: unknown): unknown {
    return notMigratedError(err, this.#schema) ?? err;
  }
}
