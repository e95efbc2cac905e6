import { z } from 'zod';
import { VERSION } from '../version.js';
import { problemTypes } from './problem.js';
import type { Route } from './route.js';
import { requestComponents, responseComponents } from './schemas.js';

type Json = Record<string, unknown>;

const REF = '#/components/schemas/';

/** JSON Schema of every named component; `$schema`/`$id` dropped (the document sets the dialect). */
function components(): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [registry, io] of [
    [requestComponents, 'input'],
    [responseComponents, 'output'],
  ] as const) {
    const { schemas } = z.toJSONSchema(registry, { uri: (id) => `${REF}${id}`, io, unrepresentable: 'any', target: 'draft-2020-12' }) as { schemas: Record<string, Json> };
    for (const [id, schema] of Object.entries(schemas)) {
      const { $schema: _s, $id: _i, ...rest } = schema;
      out[id] = rest;
    }
  }
  return out;
}

/** A `$ref` to a named schema, or the schema inlined. */
function schemaRef(schema: z.ZodType, io: 'input' | 'output'): Json {
  const meta = requestComponents.get(schema) ?? responseComponents.get(schema);
  if (meta?.id) return { $ref: `${REF}${meta.id}` };
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  return rest;
}

function parameters(route: Route): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const json = z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Json>; required?: string[] };
    const examples = (where === 'path' ? route.example?.params : route.example?.query) ?? {};
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const p: Json = { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: prop };
      if (typeof prop.description === 'string') p.description = prop.description;
      const example = examples[name];
      // Query strings carry text; the document shows a numeric parameter's example as a number.
      if (example !== undefined) p.example = (prop.type === 'integer' || prop.type === 'number') && /^-?[0-9.]+$/.test(example) ? Number(example) : example;
      out.push(p);
    }
  }
  return out;
}

const problem = (description: string): Json => ({ description, content: { 'application/problem+json': { schema: { $ref: `${REF}Problem` } } } });

function responses(route: Route): Json {
  const out: Json = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const code = Number(status);
    if (code >= 400) {
      out[status] = problem(spec.description);
      continue;
    }
    const r: Json = { description: spec.description };
    if (spec.schema || spec.contentType) {
      const media: Json = {};
      if (spec.schema) media.schema = schemaRef(spec.schema, 'output');
      else media.schema = { type: 'string' };
      if (spec.example !== undefined) media.example = spec.example;
      r.content = { [spec.contentType ?? 'application/json']: media };
    }
    if (code === 201 && route.method === 'POST' && !route.path.startsWith('/tasks/bulk')) {
      r.headers = { Location: { description: 'URL of the created resource.', schema: { type: 'string' } } };
    }
    out[status] = r;
  }
  const add = (status: number, description: string) => {
    if (!(status in out)) out[status] = problem(description);
  };
  if (route.params || route.query || route.body) add(400, 'Invalid input; `field` names the offending field.');
  if (route.access === 'bearer') {
    add(401, 'Missing or invalid bearer token.');
    add(403, 'The `authorize` callback refused the request.');
  }
  if (route.body) {
    add(413, 'Body larger than `bodyLimit`.');
    add(415, 'Body is not `application/json`.');
  }
  out.default = problem('Any other error (e.g. 500), as problem details.');
  return out;
}

function operation(route: Route): Json {
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
  };
  if (route.description) op.description = route.description;
  const params = parameters(route);
  if (params.length > 0) op.parameters = params;
  if (route.body) {
    const media: Json = { schema: schemaRef(route.body as z.ZodType, 'input') };
    if (route.example?.body !== undefined) media.example = route.example.body;
    op.requestBody = { required: route.bodyRequired ?? true, content: { 'application/json': media } };
  } else if (route.rawBody) op.requestBody = { required: true, content: Object.fromEntries(route.rawBody.map((type) => [type, { schema: { type: 'string' } }])) };
  op.responses = responses(route);
  if (route.access !== 'bearer') op.security = [];
  return op;
}

/** The dashboard's own entry. */
const dashboardOperation: Json = {
  operationId: 'getDashboard',
  summary: 'The dashboard page',
  description: 'A self-contained HTML page (inline CSS and JS, no external requests). Its data comes from `/overview` with the bearer token entered in the page, or the host\'s `authorize` callback.',
  tags: ['dashboard'],
  security: [],
  responses: { 200: { description: 'HTML page.', content: { 'text/html': { schema: { type: 'string' } } } } },
};

/**
 * Builds the OpenAPI 3.1 document of a handler from its route table: paths,
 * parameters, request bodies and responses come from the same zod schemas the
 * handler validates with; problem responses from the route's access and inputs.
 */
export function buildOpenApi(routes: Route[], basePath: string, dashboard: boolean): Json {
  const paths: Record<string, Json> = {};
  if (dashboard) paths['/'] = { get: dashboardOperation };
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    item[route.method.toLowerCase()] = operation(route);
  }
  const tags = [...new Set(routes.map((r) => r.tag))].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'pgcourier HTTP API',
      version: VERSION,
      description:
        'Task queue management, provider webhooks and the dashboard of a pgcourier courier. Errors are RFC 9457 problem details; problem types: ' +
        Object.keys(problemTypes)
          .map((k) => `\`urn:pgcourier:problem:${k}\``)
          .join(', ') +
        '.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: basePath || '/' }],
    tags,
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: components(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token given in `createHttpHandler(courier, { auth: { token } })`.' } },
    },
  };
}
