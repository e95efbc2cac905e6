import { dashboardScript } from './script.js';
import { dashboardStyle } from './style.js';

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

/** The dashboard HTML: one document, no external resources. */
export function renderPage(p: { basePath: string; title: string; refresh: number; nonce: string }): string {
  const title = escapeHtml(p.title);
  const cards = STATUSES.map(
    (s) => `<div class="card s-${s}"><div class="label">${s[0]?.toUpperCase()}${s.slice(1)}</div><div class="value" data-testid="count-${s}">–</div></div>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${title}</title>
<style nonce="${p.nonce}">${dashboardStyle}</style>
</head>
<body data-base="${escapeHtml(p.basePath)}" data-refresh="${p.refresh}">
<header>
  <div class="brand"><svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path d="M3 7l9-4 9 4-9 4-9-4zm0 5l9 4 9-4M3 17l9 4 9-4" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/></svg><h1>${title}</h1></div>
  <div class="conn" id="conn" role="status" aria-live="polite"><span class="dot"></span><span id="conn-text">connecting…</span></div>
  <form id="auth" class="auth" hidden>
    <label for="token">Bearer token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="paste the API token">
    <button type="submit" id="connect">Connect</button>
    <span id="auth-msg" class="muted"></span>
  </form>
  <button type="button" id="forget" class="ghost" hidden>Forget token</button>
</header>
<main>
  <section class="cards" id="totals">
    ${cards}
    <div class="card s-age"><div class="label">Oldest queued</div><div class="value" data-testid="oldest-age">–</div></div>
  </section>
  <div class="grid">
    <section class="panel wide">
      <h2>Throughput <span class="muted" id="rate" data-testid="rate">–</span></h2>
      <svg id="chart" viewBox="0 0 600 110" preserveAspectRatio="none" role="img" aria-label="Tasks finished per second"></svg>
      <div class="legend muted"><span id="chart-max"></span><span>tasks finished per second, since this page opened</span></div>
    </section>
    <section class="panel wide">
      <h2>Queues</h2>
      <div class="scroll"><table class="queues">
        <thead><tr><th>Queue</th><th>Queued</th><th>Running</th><th>Succeeded</th><th>Failed</th><th>Cancelled</th><th>Oldest</th><th>24 h</th><th></th></tr></thead>
        <tbody id="queues"><tr><td colspan="9" class="empty">No tasks yet</td></tr></tbody>
      </table></div>
    </section>
    <section class="panel">
      <h2>Running <span class="muted" id="running-count"></span></h2>
      <div id="running" class="list"><p class="empty">No task is running</p></div>
    </section>
    <section class="panel">
      <h2>Failures <span class="muted" id="failed-count"></span></h2>
      <div id="failed" class="list"><p class="empty">No failed tasks</p></div>
    </section>
    <section class="panel" id="batches-panel" hidden>
      <h2>Bulk sends</h2>
      <div id="batches" class="list"></div>
    </section>
    <section class="panel" id="schedules-panel" hidden>
      <h2>Schedules</h2>
      <div id="schedules" class="list"></div>
    </section>
    <section class="panel" id="messages-panel" hidden>
      <h2>Messages</h2>
      <div id="messages"></div>
    </section>
  </div>
</main>
<footer class="muted"><span id="updated"></span> · <a href="${escapeHtml(p.basePath)}/openapi.json">OpenAPI</a></footer>
<div id="toast" class="toast" role="alert" hidden></div>
<script nonce="${p.nonce}">${dashboardScript}</script>
</body>
</html>
`;
}
