import { afterAll, beforeAll, describe, it } from 'vitest';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { type Courier, createCourier } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';

// This file runs its own Postgres so it can restart it without disturbing others.
let server: EmbeddedServer;
let courier: Courier;

beforeAll(async () => {
  server = await startEmbeddedPostgres();
  courier = createCourier({ connectionString: server.connectionString, schema: 'restart' });
  await courier.migrate();
});
afterAll(async () => {
  await courier?.close({ grace: 0 });
  await server?.destroy();
});

describe('Postgres restart', () => {
  it('an idle worker reconnects (re-LISTENs) and runs tasks enqueued after the restart', async () => {
    const ran: string[] = [];
    courier.registerTask('after_restart', (_p, ctx) => void ran.push(ctx.taskId));
    await courier.start({ pollInterval: 60 });
    const before = await courier.enqueueTask('after_restart', {});
    await waitFor(() => ran.includes(before), 2000, 'the task before the restart');

    await server.stop();
    await waitFor(() => !courier.health().listening, 5000, 'the worker to notice');
    await server.start();
    await waitFor(() => courier.health().listening, 10_000, 'the LISTEN connection to come back');

    // The pool's connections died with the server: enqueue goes through fresh ones, and
    // with a 60 s poll only the re-established LISTEN can wake the worker in time.
    const after = await waitFor(() => courier.enqueueTask('after_restart', {}).catch(() => null), 5000, 'enqueue after restart');
    await waitFor(() => ran.includes(after), 2000, 'the task enqueued after the restart');
    await waitFor(async () => (await courier.getTask(after))?.status === 'succeeded', 5000, 'its completion');
  });
});
