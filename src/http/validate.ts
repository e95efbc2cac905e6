import type { z } from 'zod';
import { HttpProblem } from './problem.js';

/**
 * Parses request input (path parameters, query or body) with its wire schema.
 * The first issue becomes a 400 problem naming the full dotted path of the
 * field (unknown fields included, at any depth), never echoing the value.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  // The input is reported only to tell "missing" from "of the wrong type"; it is never echoed.
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? []).map(String);
  if (issue?.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    throw new HttpProblem('validation', `"${field}" is not a known field`, { field });
  }
  const field = path.join('.') || 'body';
  let expected = issue?.message ?? 'is invalid';
  if (issue?.code === 'invalid_type' && issue.input === undefined) expected = 'is required';
  else if (issue?.code === 'invalid_type' && /^Invalid input/.test(expected)) expected = `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
  else if (!/^(must|is) /.test(expected)) expected = `is invalid: ${expected}`;
  throw new HttpProblem('validation', `"${field}" ${expected}`, { field });
}
