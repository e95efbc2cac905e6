import type { Peer, PeerName } from '../types.js';
import { bullmqPg, bullmqRedis } from './bullmq.js';
import { graphileWorker } from './graphile-worker.js';
import { pgBoss } from './pg-boss.js';
import { pgcourier } from './pgcourier.js';
import { rawSql } from './raw-sql.js';

/** Every adapter, in table order. */
export const PEERS: Record<PeerName, Peer> = {
  pgcourier,
  'graphile-worker': graphileWorker,
  'pg-boss': pgBoss,
  'bullmq-pg': bullmqPg,
  'bullmq-redis': bullmqRedis,
  'raw-sql': rawSql,
};
