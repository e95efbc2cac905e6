import { z } from 'zod';
import type { Check, SameFields } from '../config.js';
import { defineBuiltinTask, type TaskDefinition } from '../registry.js';
import type { CleanupOptions } from './cleanup.js';

/** Name of the built-in cleanup task. */
export const CLEANUP_TASK = 'pgcourier.cleanup';
/** Name of the hourly schedule that enqueues it. */
export const CLEANUP_SCHEDULE = 'pgcourier.cleanup';

const seconds = z.number('must be a number of seconds').min(0, 'must be a number of seconds >= 0 (0: everything finished)');
const status = z.enum(['succeeded', 'failed', 'cancelled'], 'must be succeeded, failed or cancelled');

/** Options of a cleanup run, as accepted from callers and task payloads. */
export const cleanupOptionsSchema = z
  .object({
    olderThan: seconds.optional(),
    statuses: z.array(status).min(1, 'must name at least one status').optional(),
    retention: z.object({ succeeded: seconds.optional(), failed: seconds.optional(), cancelled: seconds.optional() }).strict().optional(),
    batchSize: z.int('must be an integer from 100 to 50000').min(100).max(50_000).optional(),
    onProgress: z.custom<(n: number) => void>((v) => typeof v === 'function', 'must be a function').optional(),
  })
  .strict();

// Compile-time: CleanupOptions names exactly the fields cleanupOptionsSchema validates.
type _CleanupOptionsMatch = Check<SameFields<CleanupOptions, z.input<typeof cleanupOptionsSchema>>>;

/** The built-in `pgcourier.cleanup` task: deletes finished tasks past their retention. */
export function cleanupTask(run: (opts: CleanupOptions) => Promise<number>): TaskDefinition {
  return defineBuiltinTask({
    name: CLEANUP_TASK,
    payload: cleanupOptionsSchema.omit({ onProgress: true }),
    priority: 10,
    maxRetries: 2,
    async handler(options) {
      return { deleted: await run(options) };
    },
  }) as TaskDefinition;
}
