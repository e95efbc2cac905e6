// Create a user and enqueue the welcome email in one Kysely transaction: either both
// happen or neither does.
//   node --import tsx examples/run.ts transactional-enqueue
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createCourier } from '../src/index.js';

interface AppDb {
  users: { id: number; email: string };
}

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const db = new Kysely<AppDb>({ dialect: new PostgresDialect({ pool }) });
const courier = createCourier({ pool });
courier.registerTask('send_welcome', async ({ userId }: { userId: number }) => ({ welcomed: userId }));
await courier.migrate();
await sql`CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY, email text UNIQUE NOT NULL)`.execute(db);

async function signUp(email: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const user = await trx.insertInto('users').values({ email } as never).returning('id').executeTakeFirstOrThrow();
    await courier.enqueueTask('send_welcome', { userId: user.id }, { tx: trx });
    return user.id;
  });
}

const id = await signUp('ada@example.com');
console.log(`user ${id} created and welcome email queued`);
// A duplicate email makes the INSERT fail: the transaction rolls back, so no email is queued.
await signUp('ada@example.com').catch((err: Error) => console.log(`second signup rejected (${err.message.split('\n')[0]}); nothing enqueued`));

const ran = await courier.drain();
const status = await courier.queueStatus();
console.log(`ran ${ran} task(s); succeeded ${status.total.succeeded}, queued ${status.total.queued}`);
await sql`DROP TABLE users`.execute(db);
await pool.end();
if (ran !== 1 || status.total.succeeded !== 1) process.exit(1);
