import { randomBytes } from 'node:crypto';
import { defineRoute } from '../route.js';
import { renderPage } from './page.js';

/**
 * `GET {basePath}/`: the dashboard shell. It holds no data (that comes from
 * `/overview` with the viewer's credentials), so it is public; a strict CSP with
 * a per-response nonce allows only its own inline style and script and requests
 * to the same origin.
 */
export const dashboardRoute = defineRoute({
  operationId: 'getDashboard',
  method: 'GET',
  path: '/',
  tag: 'dashboard',
  summary: 'The dashboard page',
  description:
    'A self-contained HTML page (inline CSS and JS, no external requests) showing counts per queue, throughput, running and failed tasks, batches and schedules, refreshed live. Its data comes from `/overview` with the bearer token entered in the page, or the host\'s `authorize` callback.',
  access: 'public',
  responses: { 200: { description: 'HTML page.', contentType: 'text/html; charset=utf-8' } },
  async handle({ options }) {
    const nonce = randomBytes(16).toString('base64');
    const dashboard = options.dashboard ?? { refresh: 2, title: 'pgcourier' };
    return new Response(renderPage({ basePath: options.basePath, title: dashboard.title, refresh: dashboard.refresh, nonce }), {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      },
    });
  },
});
