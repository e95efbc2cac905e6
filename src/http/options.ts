import { z } from 'zod';
import { type Check, parse, type SameFields } from '../config.js';
import { ValidationError } from '../errors.js';

/**
 * Who may call the management endpoints and see the dashboard's data. Give a
 * bearer `token` (or several, for rotation), an `authorize` callback, or both: a
 * request passes when its bearer token matches or the callback returns `true`.
 * Provider webhooks never use this; their signatures authenticate them.
 */
export interface HttpAuthOptions {
  /** Accepted bearer token(s), at least 16 characters each; compared in constant time. */
  token?: string | string[];
  /**
   * Host-supplied check, e.g. a session cookie of the host's admin login. Runs when
   * no configured token matched. Return `true` to allow. Requests it allows that
   * change state must not come from another site (`Sec-Fetch-Site`).
   */
  authorize?: (request: Request) => boolean | Promise<boolean>;
}

/** Options of the built-in dashboard. */
export interface DashboardOptions {
  /** Seconds between refreshes of the page's data (default 2). */
  refresh?: number;
  /** Title shown in the page header (default `pgcourier`). */
  title?: string;
}

/** Options of {@link createHttpHandler}. Sizes are bytes. */
export interface HttpOptions {
  /** Path prefix the handler serves, e.g. `/courier` (default: the root). */
  basePath?: string;
  /** Authentication of the management endpoints; required. */
  auth: HttpAuthOptions;
  /** Largest request body of a management endpoint (default 2 MiB). */
  bodyLimit?: number;
  /** Largest request body of a provider webhook (default 256 KiB). */
  webhookBodyLimit?: number;
  /** Serve the dashboard at `{basePath}/` (default true), optionally with settings. */
  dashboard?: boolean | DashboardOptions;
  /**
   * Node adapter only: take scheme and host from `X-Forwarded-Proto` and
   * `X-Forwarded-Host` (set it when a trusted proxy terminates TLS, so webhook
   * signatures over the public URL verify). Default false.
   */
  trustProxy?: boolean;
}

const bytes = (what: string, max: number) =>
  z.int(`must be an integer number of bytes (${what})`).min(1, 'must be at least 1 byte').max(max, `must be at most ${max} bytes`);

const httpOptionsSchema = z
  .object({
    basePath: z
      .string('must be a path like "/courier"')
      .regex(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*\/?$/, 'must be a path like "/courier" (or "" for the root)')
      .default(''),
    auth: z
      .object(
        {
          token: z
            .union([z.string().min(16, 'must be at least 16 characters'), z.array(z.string().min(16, 'must be at least 16 characters')).min(1, 'must not be empty')], 'must be a string of at least 16 characters, or an array of them')
            .optional(),
          authorize: z.custom<HttpAuthOptions['authorize']>((v) => typeof v === 'function', 'must be a function (request) => boolean').optional(),
        },
        'must be { token } or { authorize } (or both)',
      )
      .strict(),
    bodyLimit: bytes('> 0', 64 * 1024 * 1024).default(2 * 1024 * 1024),
    webhookBodyLimit: bytes('> 0', 16 * 1024 * 1024).default(256 * 1024),
    dashboard: z
      .union(
        [
          z.boolean(),
          z
            .object({
              refresh: z.number('must be a number of seconds').min(0.2, 'must be at least 0.2 seconds').max(3600, 'must be at most 3600 seconds').optional(),
              title: z.string().min(1).max(100, 'must be at most 100 characters').optional(),
            })
            .strict(),
        ],
        'must be true, false or { refresh, title }',
      )
      .default(true),
    trustProxy: z.boolean('must be true or false').default(false),
  })
  .strict();

// Compile-time: the option interfaces name exactly the fields httpOptionsSchema validates.
type _HttpOptionsMatch = Check<SameFields<HttpOptions, z.input<typeof httpOptionsSchema>>>;
type _HttpAuthOptionsMatch = Check<SameFields<HttpAuthOptions, z.input<typeof httpOptionsSchema>['auth']>>;

/** Options after validation and defaults. */
export interface ResolvedHttpOptions {
  basePath: string;
  tokens: string[];
  authorize: ((request: Request) => boolean | Promise<boolean>) | undefined;
  bodyLimit: number;
  webhookBodyLimit: number;
  dashboard: { refresh: number; title: string } | null;
  trustProxy: boolean;
}

/** Validates {@link HttpOptions}; a {@link ValidationError} names the field. */
export function resolveHttpOptions(options: HttpOptions): ResolvedHttpOptions {
  const o = parse(httpOptionsSchema, options ?? {}, 'http');
  const tokens = o.auth.token === undefined ? [] : Array.isArray(o.auth.token) ? o.auth.token : [o.auth.token];
  if (tokens.length === 0 && !o.auth.authorize) {
    throw new ValidationError('http', 'auth', 'must give a bearer `token` or an `authorize` callback (or both)');
  }
  const basePath = o.basePath.replace(/\/+$/, '');
  const dashboard = o.dashboard === false ? null : { refresh: 2, title: 'pgcourier', ...(o.dashboard === true ? {} : o.dashboard) };
  return {
    basePath,
    tokens,
    authorize: o.auth.authorize,
    bodyLimit: o.bodyLimit,
    webhookBodyLimit: o.webhookBodyLimit,
    dashboard,
    trustProxy: o.trustProxy,
  };
}
