import pg from 'pg';
import { z } from 'zod';
import { connectionStringProblem, queueNameSchema } from '../config.js';
import { ValidationError } from '../errors.js';

/** Name of the cluster of the courier's own connection, which holds every queue no cluster names. */
export const DEFAULT_CLUSTER = 'default';

/** Highest cluster number: ids of cluster `n` are `n × 2^56 … (n + 1) × 2^56 - 1`, which must stay below 2^63. */
export const MAX_CLUSTER_NUMBER = 127;

/** Another Postgres cluster holding some of the courier's queues; see {@link CourierOptions.clusters}. */
export interface ClusterOptions {
  /**
   * The cluster's number, 1–127, unique among the clusters and fixed for the
   * cluster's life: its task ids run from `number × 2^56` to `(number + 1) × 2^56 - 1` (the courier's
   * own connection is cluster 0), so every id names its cluster and stays a
   * plain decimal id. `migrate()` reserves the range on the cluster.
   */
  number: number;
  /**
   * Queues that live on this cluster: exact names, or prefixes ending in `*`
   * (`'tenant-a.*'`). An exact name wins over a prefix, a longer prefix over a
   * shorter one; a name or prefix may appear on one cluster only.
   */
  queues: string[];
  /** `postgres://` URL of the cluster (several hosts allowed). Required unless `pool` is given; `DATABASE_URL` is never used for it. */
  connectionString?: string;
  /** An existing `pg.Pool` on the cluster; the courier never ends it. */
  pool?: pg.Pool;
  /** Servers in place of the connection string's, as for the courier's own {@link CourierOptions.hosts}. */
  hosts?: (string | { host: string; port?: number })[];
  /** A direct connection for LISTEN on this cluster, as {@link CourierOptions.listenConnectionString}. */
  listenConnectionString?: string;
  /** Named prepared statements on this cluster (default true), as {@link CourierOptions.preparedStatements}. */
  preparedStatements?: boolean;
  /** A replica of this cluster for status, lists and metrics, as {@link CourierOptions.readConnectionString}. */
  readConnectionString?: string;
  /** Size of the pool created for this cluster, as {@link CourierOptions.poolSize}. */
  poolSize?: number;
}

const url = (field: string) =>
  z
    .string(`must be a postgres:// connection string (${field})`)
    .min(1, 'must be a postgres:// connection string')
    .superRefine((v, ctx) => {
      const problem = connectionStringProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const clusterNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a cluster name: 1-32 lower-case letters, digits, _ or -, starting with a letter');

const queueRouteSchema = z.string('must be a queue name or a prefix ending in *').refine((q) => queueNameSchema.safeParse(q.endsWith('*') ? q.slice(0, -1) || 'x' : q).success, 'must be a queue name or a prefix ending in * (letters, digits, _ . : -)');

/** One entry of `clusters`. */
export const clusterOptionsSchema = z
  .object({
    number: z.int('must be an integer from 1 to 127').min(1, 'must be an integer from 1 to 127').max(MAX_CLUSTER_NUMBER, 'must be an integer from 1 to 127').describe('1-127, unique and fixed: ids of this cluster are number × 2^56 + n.'),
    queues: z.array(queueRouteSchema, 'must be an array of queue names or prefixes ending in *').min(1, 'must name at least one queue').describe('Queues on this cluster: names or prefixes ending in `*`.'),
    connectionString: url('connectionString').describe('postgres:// URL of the cluster (required unless `pool` is given).').optional(),
    pool: z.custom<pg.Pool>((v) => v instanceof pg.Pool, 'must be a pg.Pool').describe('An existing pg.Pool on the cluster; never ended by the courier.').optional(),
    hosts: z
      .array(z.union([z.string().min(1), z.object({ host: z.string().min(1), port: z.int().min(1).max(65_535).optional() }).strict()], 'must be "host:port" strings or { host, port } objects'), 'must be an array of "host:port" strings or { host, port } objects')
      .min(1, 'must name at least one server')
      .max(32, 'must name at most 32 servers')
      .describe("Servers in place of the connection string's.")
      .optional(),
    listenConnectionString: url('listenConnectionString').describe('A direct connection for LISTEN on this cluster.').optional(),
    preparedStatements: z.boolean('must be true or false').describe('Named prepared statements on this cluster (default true).').optional(),
    readConnectionString: url('readConnectionString').describe('A replica of this cluster for status, lists and metrics.').optional(),
    poolSize: z.int('must be an integer from 1 to 1000').min(1, 'must be an integer from 1 to 1000').max(1000, 'must be an integer from 1 to 1000').describe('Connections in the pool created for this cluster.').optional(),
  })
  .strict();

/** The `clusters` option: cluster name to its options. */
export const clustersSchema = z.record(z.string(), clusterOptionsSchema, 'must be an object of cluster name to { number, queues, connectionString }');

/** A validated cluster of the routing table. */
export interface RoutedClusterSpec {
  name: string;
  options: z.output<typeof clusterOptionsSchema>;
}

/**
 * Cross-field checks of validated `clusters` (zod checks each entry): a cluster
 * reachable, numbers unique, each queue or prefix routed once. Errors name the
 * field and never repeat a connection string.
 */
export function checkClusters(clusters: Record<string, z.output<typeof clusterOptionsSchema>>): RoutedClusterSpec[] {
  const numbers = new Map<number, string>();
  const routed = new Map<string, string>();
  const specs: RoutedClusterSpec[] = [];
  for (const [name, options] of Object.entries(clusters)) {
    const field = `clusters.${name}`;
    const bad = clusterNameSchema.safeParse(name);
    if (!bad.success) throw new ValidationError('createCourier', field, bad.error.issues[0]?.message ?? 'must be a cluster name');
    if (name === DEFAULT_CLUSTER) throw new ValidationError('createCourier', field, `must not be named "${DEFAULT_CLUSTER}": that is the courier's own connection, which holds every queue no cluster names`);
    if (options.connectionString === undefined && options.pool === undefined) throw new ValidationError('createCourier', `${field}.connectionString`, 'is required (or pass pool); DATABASE_URL is not used for a routed cluster');
    const taken = numbers.get(options.number);
    if (taken !== undefined) throw new ValidationError('createCourier', `${field}.number`, `must be unique: ${options.number} is also cluster "${taken}"'s number`);
    numbers.set(options.number, name);
    options.queues.forEach((queue, i) => {
      const other = routed.get(queue);
      if (other !== undefined) throw new ValidationError('createCourier', `${field}.queues.${i}`, `must route "${queue}" once: it is already routed to cluster "${other}"`);
      routed.set(queue, name);
    });
    specs.push({ name, options });
  }
  return specs;
}
