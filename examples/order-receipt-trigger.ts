// A trigger enqueues the receipt email in the same transaction as the order:
// `AFTER INSERT ON orders … <schema>.enqueue('send_receipt', …)`. Any code that
// inserts an order (this app, a migration, psql, another language) gets the task,
// and only if its transaction commits.
//   node --import tsx examples/run.ts order-receipt-trigger
import pg from 'pg';
import { z } from 'zod';
import { createCourier, defineTask } from '../src/index.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const courier = createCourier({ pool });
const sent: number[] = [];
courier.registerTask(
  defineTask({
    name: 'send_receipt',
    queue: 'email',
    payload: z.object({ orderId: z.number() }),
    async handler({ orderId }) {
      sent.push(orderId);
      return { sentFor: orderId };
    },
  }),
);
await courier.migrate();

const q = `"${courier.schema}"`; // the courier's schema: pgcourier unless PGCOURIER_SCHEMA says otherwise
const app = `"${courier.schema}_shop"`; // the application's own schema
await pool.query(`
  CREATE SCHEMA IF NOT EXISTS ${app};
  CREATE TABLE ${app}.orders (id serial PRIMARY KEY, email text NOT NULL, total_cents integer NOT NULL);
  CREATE FUNCTION ${app}.enqueue_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    -- The definition's queue is not known in SQL: pass it. The key makes a replayed insert harmless.
    PERFORM ${q}.enqueue('send_receipt', jsonb_build_object('orderId', NEW.id), jsonb_build_object('queue', 'email', 'key', 'receipt:' || NEW.id));
    RETURN NULL;
  END $$;
  CREATE TRIGGER orders_send_receipt AFTER INSERT ON ${app}.orders FOR EACH ROW EXECUTE FUNCTION ${app}.enqueue_receipt();`);

// Committed: the order and its receipt task.
await pool.query(`INSERT INTO ${app}.orders (email, total_cents) VALUES ('ada@example.com', 4200)`);
// Rolled back: neither.
const client = await pool.connect();
await client.query('BEGIN');
await client.query(`INSERT INTO ${app}.orders (email, total_cents) VALUES ('bob@example.com', 999)`);
await client.query('ROLLBACK');
client.release();

const ran = await courier.drain();
const status = await courier.queueStatus();
console.log(`ran ${ran} task(s); receipts sent for orders [${sent.join(', ')}]; tasks in the table: ${status.total.total}`);
await pool.query(`DROP SCHEMA ${app} CASCADE`);
await pool.end();
if (ran !== 1 || sent.join() !== '1' || status.total.total !== 1) process.exit(1);
