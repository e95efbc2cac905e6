import { z } from 'zod';

/** A workflow step's name: printable, at most 200 characters. */
export const stepNameSchema = z
  .string('must be a step name (a string)')
  .min(1, 'must be a non-empty string')
  .max(200, 'must be at most 200 characters')
  .refine((s) => !s.includes('\u0000') && s.isWellFormed(), 'must not contain NUL characters or lone surrogates');

/** A workflow's or batch's name. */
export const workflowNameSchema = stepNameSchema;

/**
 * What a batch callback receives, merged over its own payload, when it is
 * released: the batch id, the counts of its members by outcome and their ids.
 * Use it in the callback's `payload` schema.
 *
 * @example
 * ```ts
 * const campaignDone = defineTask({ name: 'campaign_done', payload: batchSummarySchema, handler: ({ failed, total }) => ({ failed, total }) });
 * ```
 */
export const batchSummarySchema = z.object({
  batchId: z.string(),
  total: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  cancelled: z.number(),
  memberIds: z.array(z.string()),
});

/** The summary a batch callback receives; see {@link batchSummarySchema}. */
export type BatchSummary = z.infer<typeof batchSummarySchema>;
