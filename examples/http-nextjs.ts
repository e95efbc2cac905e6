// A Next.js App Router catch-all route handler: save as
//   app/courier/[[...path]]/route.ts
// (importing from 'pgcourier' instead of '../src/index.js'). Run migrations at
// deploy time (`npx pgcourier migrate`) and the processor in a worker process
// (`npx pgcourier worker`); the route only serves the API, webhooks and dashboard.

import { createHttpHandler } from '../src/http/index.js';
import { createCourier } from '../src/index.js';

/** One courier per server process (Next.js reuses the module between requests). */
export const courier = createCourier({ connectionString: process.env.DATABASE_URL });

const api = createHttpHandler(courier, {
  basePath: '/courier',
  auth: {
    token: process.env.COURIER_TOKEN,
    // Or let your admin session decide, e.g. with the session cookie:
    // authorize: async (request) => (await getSession(request))?.user.isAdmin === true,
  },
});

/** Next.js calls these with a web Request and sends the Response. */
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = api.routeHandlers;

/** The handler needs Node's crypto and pg, and must never be cached. */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
