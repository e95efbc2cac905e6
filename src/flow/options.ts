import { z } from 'zod';

/** Longest window or debounce: a day (a window's rows must outlive it; cleanup keeps a week). */
const MAX_FLOW_SECONDS = 86_400;

const flowKey = (max: number) =>
  z
    .string('must be a non-empty string')
    .min(1, 'must be a non-empty string')
    .max(max, `must be at most ${max} characters`)
    .refine((k) => !k.includes('\u0000') && k.isWellFormed(), 'must not contain NUL characters or lone surrogates');

const windowSeconds = z
  .number({ error: 'must be a number of seconds (> 0)' })
  .finite('must be a number of seconds (> 0)')
  .min(0.001, 'must be a number of seconds > 0')
  .max(MAX_FLOW_SECONDS, `must be at most a day (${MAX_FLOW_SECONDS} seconds)`);

/** The flow-control fields of the enqueue options (see {@link EnqueueOptions}). */
export const flowEnqueueShape = {
  group: flowKey(200).describe('Group (a tenant id, say): the queue caps and rotates claims per group.').optional(),
  groupTier: flowKey(100).describe("The group's tier: picks its cap from the queue's groupConcurrency tiers.").optional(),
  sequence: flowKey(512).describe('FIFO key: tasks with the same sequence (in one queue) run one at a time in enqueue order.').optional(),
  debounce: z
    .object({
      key: flowKey(512),
      seconds: windowSeconds,
      mode: z.enum(['replace', 'extend'], 'must be "replace" or "extend"').optional(),
    }, 'must be { key, seconds, mode? }')
    .strict()
    .describe('While a task of this name and debounce key is queued, enqueue updates it (the last payload wins) instead of adding one.')
    .optional(),
  throttle: z
    .object({ key: flowKey(512), seconds: windowSeconds }, 'must be { key, seconds }')
    .strict()
    .describe('At most one task of this name and key per window of `seconds`; later enqueues return the existing id.')
    .optional(),
  keyWindow: windowSeconds.describe('With `key`: one task per key per window of this many seconds, whatever its state.').optional(),
};

/** Flow-control options as validated. */
export interface FlowOptions {
  group?: string | undefined;
  groupTier?: string | undefined;
  sequence?: string | undefined;
  debounce?: { key: string; seconds: number; mode?: 'replace' | 'extend' | undefined } | undefined;
  throttle?: { key: string; seconds: number } | undefined;
  keyWindow?: number | undefined;
  key?: string | undefined;
  keyMode?: string | undefined;
  runAt?: unknown;
  delay?: unknown;
}

/** The flow-control part of one task to insert. */
export interface FlowRow {
  group: string | null;
  groupTier: string | null;
  sequence: string | null;
  debounce: { key: string; seconds: number; mode: 'replace' | 'extend' } | null;
  /** Throttle or keyWindow: one task per key per window of `seconds`. */
  window: { key: string; seconds: number } | null;
}
