import type { Peer, PeerName } from '../types.js';

/**
 * Every adapter, in table order, loaded on demand: a worker process imports
 * only its own peer's library, so its memory figure carries no other.
 */
const LOADERS: Record<PeerName, () => Promise<Peer>> = {
  pgcourier: async () => (await import('./pgcourier.js')).pgcourier,
  'graphile-worker': async () => (await import('./graphile-worker.js')).graphileWorker,
  'pg-boss': async () => (await import('./pg-boss.js')).pgBoss,
  'bullmq-pg': async () => (await import('./bullmq.js')).bullmqPg,
  'bullmq-redis': async () => (await import('./bullmq.js')).bullmqRedis,
  'raw-sql': async () => (await import('./raw-sql.js')).rawSql,
};

export function loadPeer(name: PeerName): Promise<Peer> {
  return LOADERS[name]();
}
