import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceTasks, IDS_PER_NOTIFICATION, parseAnnouncement } from '../../src/db/announce.js';
import { sqlNames } from '../../src/db/names.js';
import type { Courier } from '../../src/index.js';
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
    const ids = await courier.enqueueMany(Array.from({ length: 2 * IDS_PER_NOTIFICATION + 7 }, () => ({ name: 'noop' })));
    await announceTasks(courier.pool, sqlNames(courier.schema), 'cancelled', ids, 'w:1:abc');
    await waitFor(() => payloads.length === 3, 10_000, 'three notifications');
    const parsed = payloads.map((p) => parseAnnouncement(p));
    for (const [i, p] of payloads.entries()) {
      expect(Buffer.byteLength(p)).toBeLessThan(8000);
      expect(parsed[i]).toMatchObject({ kind: 'cancelled', publisher: 'w:1:abc' });
    }
    expect(parsed.flatMap((p) => p?.ids ?? []).sort()).toEqual([...ids].sort());
    expect(parsed.flatMap((p) => p?.attempts ?? []).every((a) => a === 0)).toBe(true);
  });
});
