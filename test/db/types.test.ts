import { describe, expect, it } from 'vitest';
import { TASK_COLUMNS } from '../../src/db/types.js';
import { testCourier } from '../helpers/db.js';

describe('the hand-written row type of the tasks table', () => {
  it('names exactly the columns the migrations create, in their order', async () => {
    const courier = await testCourier();
    try {
      const { rows } = await courier.pool.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks' ORDER BY ordinal_position`,
        [courier.schema],
      );
      expect(rows.map((r) => r.column_name)).toEqual([...TASK_COLUMNS]);
      // SELECT * gives every key of TaskRow and nothing else.
      courier.registerTask('row_check', () => {});
      const id = await courier.enqueueTask('row_check', {});
      const { rows: tasks } = await courier.pool.query(`SELECT * FROM ${courier.names.tasks} WHERE id = $1`, [id]);
      expect(Object.keys(tasks[0] ?? {}).sort()).toEqual([...TASK_COLUMNS].sort());
    } finally {
      await courier.close();
    }
  });
});
