/**
 * RFC 9457 problem details: every error the HTTP handler returns is one of these,
 * as `application/problem+json`. A problem never carries a stack trace, a secret
 * or the offending value, only the name of the offending field.
 */

/** Body of an `application/problem+json` response (RFC 9457). */
export interface ProblemDetails {
  /** URI naming the problem type, e.g. `urn:pgcourier:problem:validation`. */
  type: string;
  /** Short summary of the problem type. */
  title: string;
  /** HTTP status code. */
  status: number;
  /** What went wrong in this occurrence, in words. */
  detail: string;
  /** Dotted path of the invalid field, when one field is to blame (e.g. `options.priority`). */
  field?: string;
  /** Methods the resource allows (405 only). */
  allow?: string[];
}

/** Problem types this handler uses, by slug. */
export const problemTypes = {
  validation: { status: 400, title: 'Invalid request' },
  'invalid-json': { status: 400, title: 'Malformed JSON body' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  internal: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

/** Slug of a problem type. */
export type ProblemKind = keyof typeof problemTypes;

/** The `type` URI of a problem kind. */
export function problemType(kind: ProblemKind): string {
  return `urn:pgcourier:problem:${kind}`;
}

/** Thrown inside the handler to end a request with a problem response. */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  readonly kind: ProblemKind;
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;

  constructor(kind: ProblemKind, detail: string, extra: { field?: string; headers?: Record<string, string> } = {}) {
    super(detail);
    this.kind = kind;
    this.status = problemTypes[kind].status;
    this.field = extra.field;
    this.headers = extra.headers ?? {};
  }

  /** The problem body. */
  toJSON(): ProblemDetails {
    const body: ProblemDetails = { type: problemType(this.kind), title: problemTypes[this.kind].title, status: this.status, detail: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.kind === 'method-not-allowed' && this.headers.Allow) body.allow = this.headers.Allow.split(', ');
    return body;
  }
}

/** Renders a problem as an `application/problem+json` response. */
export function problemResponse(problem: HttpProblem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem.toJSON()), {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers, ...problem.headers },
  });
}
