import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceTasks, IDS_PER_NOTIFICATION, parseAnnouncement } from '../../src/db/announce.js';
import { sqlNames } from '../../src/db/names.js';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, testCourier, waitFor } from '../helpers/db.js';

describe('announcement payloads', () => {
  it('parses kind, ids with attempts, and the publisher (which may contain spaces or be empty)', () => {
    expect(parseAnnouncement('succeeded 12.1,9223372036854775807.3 host a:42:ab12cd34')).toEqual({
      kind: 'succeeded',
      ids: ['12', '9223372036854775807'],
      attempts: [1, 3],
      publisher: 'host a:42:ab12cd34',
    });
    expect(parseAnnouncement('cancelled 5.0 ')).toEqual({ kind: 'cancelled', ids: ['5'], attempts: [0], publisher: null });
  });

  it('ignores what it does not understand (a foreign or newer format)', () => {
    for (const bad of ['', 'succeeded', 'succeeded 1.1', 'exploded 1.1 w', 'failed 1 w', 'failed 01.1 w', 'failed 1.1,,2.1 w', 'retrying x.1 w']) {
      expect(parseAnnouncement(bad)).toBeNull();
    }
  });
});

describe('announcing on the events channel', () => {
  let courier: Courier;
  let client: pg.Client;
  const payloads: string[] = [];
  const listeners = () => sqlNames(courier.schema).eventListeners;
  const register = (seconds: number) => client.query(`INSERT INTO ${listeners()} (id, expires_at) VALUES ('test', now() + make_interval(secs => $1)) ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`, [seconds]);

  /**
   * Sends a sentinel on the channel and waits for it. Notifications arrive in
   * commit order, so whatever was announced before has arrived by then.
   */
  async function flush(): Promise<string[]> {
    const marker = `sentinel ${payloads.length}`;
    await client.query('SELECT pg_notify($1, $2)', [`${courier.schema}.events`, marker]);
    await waitFor(() => payloads.includes(marker), 10_000, 'the sentinel');
    return payloads.splice(0).filter((p) => !p.startsWith('sentinel '));
  }

  beforeAll(async () => {
    courier = await testCourier();
    courier.registerTask('noop', () => {});
    client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    client.on('notification', (m) => payloads.push(m.payload ?? ''));
    await client.query(`LISTEN "${courier.schema}.events"`);
  });

  afterAll(async () => {
    await client?.end();
    await courier?.close();
  });

  it('chunks a large batch into notifications below the 8000-byte limit, every id once', async () => {
    await register(60);
    const ids = await courier.enqueueMany(Array.from({ length: 2 * IDS_PER_NOTIFICATION + 7 }, () => ({ name: 'noop' })));
    await announceTasks(courier.pool, sqlNames(courier.schema), 'cancelled', ids, 'w:1:abc');
    const seen = await flush();
    expect(seen).toHaveLength(3);
    const parsed = seen.map((p) => parseAnnouncement(p));
    for (const [i, p] of seen.entries()) {
      expect(Buffer.byteLength(p)).toBeLessThan(8000);
      expect(parsed[i]).toMatchObject({ kind: 'cancelled', publisher: 'w:1:abc' });
    }
    expect(parsed.flatMap((p) => p?.ids ?? []).sort()).toEqual([...ids].sort());
    expect(parsed.flatMap((p) => p?.attempts ?? []).every((a) => a === 0)).toBe(true);
  });

  it('announces nothing while no process is registered as listening, or only an expired one', async () => {
    const [id] = await courier.enqueueMany([{ name: 'noop' }]);
    await client.query(`DELETE FROM ${listeners()}`);
    await announceTasks(courier.pool, sqlNames(courier.schema), 'cancelled', [id as string]);
    expect(await flush()).toEqual([]);
    await register(-1);
    await courier.drain();
    await announceTasks(courier.pool, sqlNames(courier.schema), 'cancelled', [id as string]);
    expect(await flush()).toEqual([]);
    // The same outcomes are announced once a live registration exists.
    await register(60);
    const [next] = await courier.enqueueMany([{ name: 'noop' }]);
    await courier.drain();
    expect((await flush()).map((p) => parseAnnouncement(p)?.ids)).toEqual([[next]]);
  });

  it('a cluster listener registers while it listens and removes its row when it stops', async () => {
    await client.query(`DELETE FROM ${listeners()}`);
    const other = createCourier({ connectionString: databaseUrl(), schema: courier.schema });
    try {
      const off = other.clusterEvents.on('task:succeeded', () => {});
      await waitFor(async () => (await client.query(`SELECT id FROM ${listeners()} WHERE expires_at > now()`)).rows[0]?.id === other.workerId, 10_000, 'the registration');
      const [id] = await courier.enqueueMany([{ name: 'noop' }]);
      await courier.drain();
      expect((await flush()).map((p) => parseAnnouncement(p)?.ids)).toEqual([[id]]);
      off();
    } finally {
      await other.close();
    }
    expect((await client.query(`SELECT id FROM ${listeners()}`)).rows).toEqual([]);
  });
});
