// pg_auto_failover: a monitor and two data nodes with synchronous replication. Three
// worker processes drain, on the formation's multi-host URL, while a producer keeps
// enqueueing; `pg_autoctl perform failover` twice, then the primary is SIGKILLed
// (keeper and postmaster) and the monitor fails over on its own. Audited with the
// suite's rules (docs/reliability.md).
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createPool } from '../../src/db/connections.js';
import { type Courier, createCourier } from '../../src/index.js';
import { autoFailoverMissing, type DataNode, type Formation, startFormation } from '../helpers/autofailover.js';
import { auditFates, diskFree, Fleet, newScenario, report, type Scenario, until } from './harness.js';

const missing = autoFailoverMissing();
if (missing) {
  // CI installs it (.ci/run); there a missing package is a failure, not a skip.
  if (process.env.CI) throw new Error(`${missing}: .ci/run must install postgresql-15-auto-failover`);
  console.warn(`[faults] pg_auto_failover scenario SKIPPED: ${missing}`);
}

const POLL = 0.5;

/**
 * Watches the node about to become primary, every 50 ms: when it leaves recovery
 * (`promotedAt`, its clock), and when a write commits there (`writableAt`): an
 * INSERT, which pg_auto_failover's synchronous replication holds until the node
 * may take writes (after an unplanned failover: once the old primary's demote
 * timeout has passed).
 */
async function watchPromotion(formation: Formation, node: DataNode, schema: string): Promise<{ promotedAt: Date; writableAt: Date }> {
  let promotedAt: Date | undefined;
  for (;;) {
    const client = new pg.Client({ connectionString: formation.urlOf(node), connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      for (;;) {
        if (!promotedAt) {
          const { rows } = await client.query<{ standby: boolean; at: Date }>('SELECT pg_is_in_recovery() AS standby, clock_timestamp() AS at');
          if (rows[0] && !rows[0].standby) promotedAt = rows[0].at;
        }
        if (promotedAt) {
          const ok = await client.query(`INSERT INTO "${schema}".failover_probe VALUES (clock_timestamp())`).then(
            () => true,
            () => false,
          );
          if (ok) return { promotedAt, writableAt: new Date() };
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch {
      await new Promise((r) => setTimeout(r, 50)); // restarting: try again
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/**
 * A writer that shares no code with pgcourier: plain `pg` clients, connecting the
 * way libpq's `target_session_attrs=read-write` does (first node whose
 * `transaction_read_only` is off), one INSERT every 10 ms. Rows it saw committed
 * and that are gone afterwards were dropped by the database itself, not by
 * pgcourier.
 */
function startRawWriter(formation: Formation, schema: string, began: number): { acked: Array<{ n: number; atMs: number }>; stop(): Promise<void> } {
  const acked: Array<{ n: number; atMs: number }> = [];
  let running = true;
  const loop = (async () => {
    let client: pg.Client | undefined;
    let n = 0;
    while (running) {
      try {
        if (!client) {
          for (const node of formation.nodes) {
            const c = new pg.Client({ connectionString: formation.urlOf(node), connectionTimeoutMillis: 1000 });
            c.on('error', () => {});
            try {
              await c.connect();
              if ((await c.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro")).rows[0]?.ro === 'off') {
                client = c;
                break;
              }
            } catch {
              // down: try the next node
            }
            await c.end().catch(() => {});
          }
        }
        if (client) {
          n++;
          await client.query(`INSERT INTO "${schema}".raw_writes (n) VALUES ($1)`, [n]);
          acked.push({ n, atMs: Date.now() - began });
        }
      } catch {
        await client?.end().catch(() => {});
        client = undefined;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await client?.end().catch(() => {});
  })();
  return {
    acked,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Runs of lost acknowledgements (ms since the test began), split where 1 s passes without one. */
function lostRuns<T>(items: T[], lost: (item: T) => boolean, atMs: (item: T) => number, label: (item: T) => string): Array<{ fromMs: number; toMs: number; lost: number; first: string; last: string }> {
  const runs: Array<{ fromMs: number; toMs: number; lost: number; first: string; last: string }> = [];
  for (const item of items) {
    if (!lost(item)) continue;
    const at = atMs(item);
    const last = runs.at(-1);
    if (last && at - last.toMs < 1000) Object.assign(last, { toMs: at, lost: last.lost + 1, last: label(item) });
    else runs.push({ fromMs: at, toMs: at, lost: 1, first: label(item), last: label(item) });
  }
  return runs;
}

/**
 * Where acknowledged enqueues went missing, for the failure message (CI shows only
 * the end of the output): the lost ones as runs of acknowledgement times, the
 * failovers on the same clock, and the formation's state changes.
 */
function explainLost(lost: ReturnType<typeof lostRuns>, dbLost: ReturnType<typeof lostRuns>, failovers: Array<Record<string, string | number>>, formation: Formation): string {
  const transitions = formation
    .logTail(4000)
    .split('\n')
    .filter((l) => /New state for|Transition complete|demote|synchronous_standby_names|read_only/i.test(l))
    .slice(-50);
  return [
    `acknowledged enqueues lost outside any window in which the database dropped acknowledged commits: ${JSON.stringify(lost.slice(0, 10))}`,
    `commits the database acknowledged and dropped (raw writer): ${JSON.stringify(dbLost.slice(0, 10))}`,
    `failovers: ${JSON.stringify(failovers)}; ${diskFree()}`,
    'pg_autoctl state changes:',
    ...transitions,
  ].join('\n');
}

describe.skipIf(missing !== undefined)('pg_auto_failover', () => {
  let formation: Formation;
  let pool: pg.Pool;
  let scenario: Scenario;
  let fleet: Fleet;

  beforeAll(async () => {
    formation = await startFormation({ log: (l) => console.log(l.slice(-8000)) });
    pool = createPool(formation.url, pino({ level: 'silent' }), 4);
    scenario = await newScenario({ server: undefined as never, url: formation.url, pool, close: async () => {} }, 'paf');
    await pool.query(`CREATE TABLE "${scenario.schema}".failover_probe (at timestamptz NOT NULL)`);
    await pool.query(`CREATE TABLE "${scenario.schema}".raw_writes (n integer PRIMARY KEY)`);
  }, 240_000);

  afterAll(async () => {
    await fleet?.destroy();
    await scenario?.close().catch(() => {});
    await pool?.end().catch(() => {});
    await formation?.destroy();
  });

  it('two planned failovers and a killed primary: every committed enqueue the database kept succeeds once, workers resume without a restart', async () => {
    // What pg_auto_failover's monitor and keepers did, to tell a failure of the formation from one of pgcourier.
    onTestFailed(() => console.log(`pg_autoctl logs, last 1,500 lines:\n${formation.logTail(1500)}`));
    fleet = new Fleet({ engineUrl: formation.url, auditUrl: formation.url, schema: scenario.schema, args: ['--concurrency', '10', '--poll-interval', String(POLL), '--lease', '10'] });
    await fleet.start(3);
    const producer: Courier = createCourier({ connectionString: formation.url, schema: scenario.schema, poolSize: 2 });
    producer.registerTask('audited', () => {});
    // Each enqueue seen to commit, with when (ms since the test began): a lost one is placed against the failovers.
    const committed: Array<{ id: string; atMs: number }> = [];
    const began = Date.now();
    let enqueueErrors = 0;
    const rawWriter = startRawWriter(formation, scenario.schema, began);
    let producing = true;
    const producing$ = (async () => {
      while (producing) {
        try {
          const id = await producer.enqueueTask('audited', { ms: 5 });
          committed.push({ id, atMs: Date.now() - began });
        } catch {
          enqueueErrors++; // not seen to commit: not counted, and the audit covers it either way
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const succeeded = async () => Number((await pool.query(`SELECT count(*) AS n FROM "${scenario.schema}".tasks WHERE status = 'succeeded'`)).rows[0].n);
    // The first handler run on the new primary: its audit row, stamped by that server's clock.
    const firstRunAfter = async (at: Date) =>
      (await pool.query<{ first: Date | null }>(`SELECT min(at) AS first FROM "${scenario.schema}".audit WHERE at >= $1`, [at])).rows[0]?.first ?? null;

    // Every node reports the primary or secondary state it was assigned.
    const settled = async () => (await formation.state()).every((s) => s.reported === s.assigned && ['primary', 'secondary'].includes(s.reported));
    const failovers: Array<Record<string, string | number>> = [];
    const fail = async (kind: 'perform failover' | 'SIGKILL primary') => {
      const from = (await formation.primary()) as DataNode;
      const to = formation.nodes.find((n) => n !== from) as DataNode;
      await until(async () => (await succeeded()) > 300 * (failovers.length + 1), 120_000, 'work before the failover');
      // Each failover starts from a synchronous formation: a primary whose standby is
      // unhealthy runs as wait_primary with synchronous replication off, and commits it
      // acknowledges then may not reach the node that is promoted next.
      await until(async () => {
        const { rows } = await pool.query<{ names: string }>(`SELECT current_setting('synchronous_standby_names') AS names`);
        return (await settled()) && rows[0]?.names !== '';
      }, 120_000, 'a synchronous formation before the failover');
      const startedAt = new Date();
      const promotion = watchPromotion(formation, to, scenario.schema);
      if (kind === 'perform failover') await formation.failover();
      else await formation.kill(from);
      const { promotedAt, writableAt } = await promotion;
      const first = await until(() => firstRunAfter(promotedAt), 120_000, `a task run on ${to.name} after the ${kind}`, 50);
      failovers.push({
        kind,
        startedAtMs: startedAt.getTime() - began,
        from: from.name,
        to: to.name,
        promotedAfterMs: promotedAt.getTime() - startedAt.getTime(),
        writableAfterMs: writableAt.getTime() - startedAt.getTime(),
        firstRunAfterMs: first.getTime() - startedAt.getTime(),
        firstRunAfterWritableMs: first.getTime() - writableAt.getTime(),
      });
      if (kind === 'perform failover') await until(settled, 120_000, 'the formation to settle');
      return promotedAt;
    };

    await fail('perform failover');
    await fail('perform failover');
    // Reads off the standby (readConnectionString): status, lists and metrics work on a hot standby, a moment behind.
    const replicaOf = (await formation.primary()) === formation.nodes[0] ? (formation.nodes[1] as DataNode) : (formation.nodes[0] as DataNode);
    const reader = createCourier({ connectionString: formation.url, readConnectionString: formation.urlOf(replicaOf), schema: scenario.schema });
    let replicaLagMs: number;
    try {
      expect((await reader.listTasks({ limit: 5 })).tasks).toHaveLength(5);
      expect((await reader.queueStatus()).total.total).toBeGreaterThan(0);
      expect(Object.keys((await reader.metrics()).queues)).toContain('default');
      const replica = new pg.Client({ connectionString: formation.urlOf(replicaOf) });
      await replica.connect();
      const { rows } = await replica.query<{ standby: boolean; lag: number | null }>(
        'SELECT pg_is_in_recovery() AS standby, extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 * 1000 AS lag',
      );
      await replica.end();
      expect(rows[0]?.standby).toBe(true);
      replicaLagMs = Math.round(rows[0]?.lag ?? 0);
    } finally {
      await reader.close();
    }
    const lastPromotion = await fail('SIGKILL primary');
    // Every worker claims and runs tasks on the last primary without a restart.
    await until(async () => {
      const { rows } = await pool.query<{ pid: number }>(`SELECT DISTINCT pid FROM "${scenario.schema}".audit WHERE at > $1`, [lastPromotion]);
      return fleet.pids().every((pid) => rows.some((r) => r.pid === pid));
    }, 120_000, 'every worker to run a task on the last primary');
    await new Promise((r) => setTimeout(r, 2000));
    producing = false;
    await producing$;
    await rawWriter.stop();
    await producer.close();
    await until(async () => {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${scenario.schema}".tasks WHERE status <> 'succeeded'`);
      return Number(rows[0]?.n) === 0;
    }, 180_000, 'the queue to drain');
    expect(fleet.crashed()).toEqual([]);
    expect(fleet.allAlive()).toBe(true);

    const { rows: present } = await pool.query<{ id: string }>(`SELECT id::text FROM "${scenario.schema}".tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [committed.map((c) => c.id)]);
    const presentIds = new Set(present.map((r) => r.id));
    const { rows: rawKept } = await pool.query<{ n: number }>(`SELECT n FROM "${scenario.schema}".raw_writes`);
    const kept = new Set(rawKept.map((r) => r.n));
    // A commit Postgres acknowledged and then dropped (pg_auto_failover with one standby
    // prefers availability: see docs/reliability.md) is not pgcourier's to keep: an
    // enqueue lost within 1 s of such a commit is counted as the database's loss.
    const dbLost = lostRuns(rawWriter.acked, (w) => !kept.has(w.n), (w) => w.atMs, (w) => String(w.n));
    const inDbLoss = (atMs: number) => dbLost.some((r) => atMs >= r.fromMs - 1000 && atMs <= r.toMs + 1000);
    const lostByDb = committed.filter((e) => !presentIds.has(e.id) && inDbLoss(e.atMs)).length;
    const lost = lostRuns(committed, (e) => !presentIds.has(e.id) && !inDbLoss(e.atMs), (e) => e.atMs, (e) => e.id);
    const audit = await auditFates(pool, scenario.schema, { rerun: 'explained', pollInterval: POLL });
    report('pg_auto_failover', {
      workers: 3,
      committedEnqueues: committed.length,
      enqueueErrors,
      rawWrites: rawWriter.acked.length,
      rawWritesDroppedByDatabase: dbLost.reduce((a, r) => a + r.lost, 0),
      enqueuesLostWithThem: lostByDb,
      failovers,
      replicaLagMs,
      ...audit,
    });
    expect(rawWriter.acked.length).toBeGreaterThan(500); // the raw writer wrote through the scenario
    expect(lost, explainLost(lost, dbLost, failovers, formation)).toEqual([]);
    expect(audit.violations).toEqual([]);
    expect(audit.dupes).toBe(0);
    expect(failovers).toHaveLength(3);
  });
});
