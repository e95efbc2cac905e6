import { parseArgs } from 'node:util';
import { PEER_NAMES, type PeerName } from './types.js';
import { ALIASES, DEFAULT_WORKLOADS, WORKLOADS } from './workloads/index.js';
import { FULL_SIZES, QUICK_SIZES, type Sizes } from './workloads/workload.js';

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  workloads: string[];
  peers: PeerName[];
  sizes: Sizes;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--only=w1,w2] [--peers=p1,p2] [--rounds=N]
  --quick        small sizes, 1 round: a smoke run
  --only=...     workloads: ${WORKLOADS.map((w) => w.name).join(', ')}
                 (default: all but memory), or a group: ${Object.entries(ALIASES)
                   .map(([alias, names]) => `${alias} = ${names.join(',')}`)
                   .join('; ')}
  --peers=...    ${PEER_NAMES.join(', ')}
                 (default: all but bullmq-redis, which needs REDIS_URL; memory defaults to pgcourier)
  --rounds=N     rounds per workload, peers alternating in each (default 3, --quick 1)
Postgres: embedded, or DATABASE_URL when set (databases are created and dropped in it).`;

function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Parses the command line; throws with a readable message on a bad flag. */
export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      peers: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const known = WORKLOADS.map((w) => w.name);
  const workloads = (list(values.only) ?? DEFAULT_WORKLOADS).flatMap((w) => ALIASES[w] ?? [w]);
  for (const w of workloads) if (!known.includes(w)) throw new Error(`unknown workload "${w}"; known: ${known.join(', ')}; groups: ${Object.keys(ALIASES).join(', ')}`);
  const requested = list(values.peers);
  for (const p of requested ?? []) if (!PEER_NAMES.includes(p as PeerName)) throw new Error(`unknown peer "${p}"; known: ${PEER_NAMES.join(', ')}`);
  const onlyMemory = workloads.length === 1 && workloads[0] === 'memory';
  const defaults: PeerName[] = onlyMemory
    ? ['pgcourier']
    : PEER_NAMES.filter((p) => p !== 'bullmq-redis' || process.env.REDIS_URL !== undefined);
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got "${values.rounds}"`);
  return {
    quick: values.quick ?? false,
    rounds,
    workloads: known.filter((w) => workloads.includes(w)),
    peers: PEER_NAMES.filter((p) => (requested ?? defaults).includes(p)),
    sizes: values.quick ? QUICK_SIZES : FULL_SIZES,
  };
}
