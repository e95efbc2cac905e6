import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpHandler, defineRoute } from '../src/http/index.js';
import { ConflictError, type CourierPlugin, createCourier, NotFoundError, NotMigratedError, StateError, ValidationError } from '../src/index.js';
import { messages } from '../src/messages/index.js';
import { databaseUrl, freshSchema, testCourier, testPool } from './helpers/db.js';

/** The tables of `schema` that exist, by name. */
async function tables(schema: string): Promise<string[]> {
  const pool = testPool();
  try {
    const { rows } = await pool.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema]);
    return rows.map((r) => r.table_name);
  } finally {
    await pool.end();
  }
}

describe('plugin migrations', () => {
  it("messaging's tables exist only where the plugin is used; adding it later applies only its migration", async () => {
    const schema = freshSchema('plug');
    const core = createCourier({ connectionString: databaseUrl(), schema });
    try {
      const applied = await core.migrate();
      expect(applied).not.toContain(20);
      expect(await tables(schema)).not.toContain('messages');
    } finally {
      await core.close();
    }
    const withMessages = createCourier({ connectionString: databaseUrl(), schema, plugins: [messages()] });
    try {
      expect(await withMessages.migrate()).toEqual([20, 21, 22, 23, 24]);
      expect(await tables(schema)).toEqual(expect.arrayContaining(['messages', 'message_batches', 'message_attempts', 'message_events', 'suppressions', 'provider_gates', 'submissions', 'inbound_messages']));
      expect(await withMessages.migrate()).toEqual([]);
      expect((await withMessages.doctor()).find((c) => c.name === 'schema')?.level).toBe('ok');
    } finally {
      await withMessages.close();
    }
  });

  it('a database that ran 020_messages with the core before the split applies nothing new', async () => {
    const courier = await testCourier({ plugins: [messages()] });
    try {
      // The same record an earlier release wrote when 020_messages ran with the core.
      const { rows } = await courier.pool.query<{ version: number; name: string }>(`SELECT version, name FROM ${courier.names.migrations} WHERE version = 20`);
      expect(rows).toEqual([{ version: 20, name: '020_messages' }]);
      expect(await courier.migrate()).toEqual([]);
      // A core-only courier on that database sees a migration it does not know: a warning, not a failure.
      const core = createCourier({ pool: courier.pool, schema: courier.schema });
      expect((await core.doctor()).find((c) => c.name === 'schema')).toMatchObject({ level: 'warn', detail: expect.stringContaining('20') });
    } finally {
      await courier.close();
    }
  });

  it('refuses two migrations with the same version, naming both', async () => {
    const clash: CourierPlugin<'clash', null> = {
      name: 'clash',
      migrations: [{ version: 1, name: '001_clash', sql: async () => 'SELECT 1' }],
      setup: () => ({ api: null }),
    };
    const courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('plug'), plugins: [clash] });
    try {
      const err = await courier.migrate().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toMatch(/"001_tasks" and "001_clash" share version 1/);
    } finally {
      await courier.close();
    }
  });
});

describe('plugin lifecycle', () => {
  it('sets up once, exposes its API under its name, and runs start, stop, cleanup and close with the courier', async () => {
    const calls: string[] = [];
    const counter: CourierPlugin<'counter', { hits(): number }> = {
      name: 'counter',
      setup(host) {
        calls.push(`setup:${host.schema}`);
        host.registry.register('counter.tick', () => {});
        return {
          api: { hits: () => calls.length },
          start: async () => void calls.push('start'),
          stop: async () => void calls.push('stop'),
          close: async () => void calls.push('close'),
          cleanup: async ({ olderThan }) => {
            calls.push(`cleanup:${olderThan}`);
            return { rows: 0 };
          },
        };
      },
    };
    const courier = await testCourier({ plugins: [counter] });
    expect(calls).toEqual([`setup:${courier.schema}`]);
    expect(courier.counter.hits()).toBe(1);
    expect(courier.registry.get('counter.tick')).toBeDefined();
    await courier.start({ concurrency: 1, pollInterval: 0.1 });
    await courier.cleanup({ olderThan: 3600 });
    await courier.close({ grace: 1 });
    expect(calls.slice(1)).toEqual(['start', 'cleanup:3600', 'stop', 'close']);
  });

  it('refuses a plugin whose name is taken by a courier member or another plugin, and a non-plugin', () => {
    const named = (name: string): CourierPlugin<string, null> => ({ name, setup: () => ({ api: null }) });
    const make = (plugins: CourierPlugin<string, unknown>[]) => createCourier({ connectionString: databaseUrl(), schema: freshSchema('plug'), plugins });
    expect(() => make([named('start')])).toThrow(ConflictError);
    expect(() => make([named('extra'), named('extra')])).toThrow(ConflictError);
    expect(() => make([{ name: 'Bad Name', setup: () => ({ api: null }) }])).toThrow(ValidationError);
    expect(() => make([{} as never])).toThrow(/"plugins.0" must be a plugin/);
  });
});

describe('a second start()', () => {
  it('throws StateError while the courier runs, and works again after stop()', async () => {
    const courier = await testCourier();
    try {
      await courier.start({ concurrency: 1, pollInterval: 0.1 });
      const err = await courier.start().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateError);
      expect((err as StateError).code).toBe('INVALID_STATE');
      await courier.stop({ grace: 1 });
      await courier.start({ concurrency: 1, pollInterval: 0.1 });
    } finally {
      await courier.close({ grace: 1 });
    }
  });
});

describe('HTTP status of engine errors, by class', () => {
  it('maps ValidationError 400, NotFoundError 404, ConflictError and StateError 409, NotMigratedError 503, anything else 500', async () => {
    const errors = {
      validation: () => new ValidationError('probe', 'field', 'must be fine'),
      'not-found': () => new NotFoundError('no such thing'),
      conflict: () => new ConflictError('already there'),
      state: () => new StateError('wrong state'),
      'not-migrated': () => new NotMigratedError('probe'),
      other: () => new Error('boom'),
    };
    const routes = Object.entries(errors).map(([kind, make]) =>
      defineRoute({
        operationId: `throw_${kind}`,
        method: 'GET',
        path: `/throw/${kind}`,
        tag: 'probe',
        summary: `throws ${kind}`,
        access: 'public',
        responses: { 200: { description: 'never', schema: z.object({}) } },
        async handle() {
          throw make();
        },
      }),
    );
    const prober: CourierPlugin<'prober', null> = { name: 'prober', setup: () => ({ api: null, extensions: { http: { routes } } }) };
    const courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('plug'), plugins: [prober] });
    try {
      const api = createHttpHandler(courier, { auth: { token: 'probe-token-0123456789abcdef' } });
      const status = async (kind: string) => (await api(new Request(`http://probe.test/throw/${kind}`))).status;
      expect({
        validation: await status('validation'),
        notFound: await status('not-found'),
        conflict: await status('conflict'),
        state: await status('state'),
        notMigrated: await status('not-migrated'),
        other: await status('other'),
      }).toEqual({ validation: 400, notFound: 404, conflict: 409, state: 409, notMigrated: 503, other: 500 });
    } finally {
      await courier.close();
    }
  });
});
