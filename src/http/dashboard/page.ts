import { dashboardScript } from './script.js';
import { dashboardStyle } from './style.js';

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// `waiting`: tasks whose parents have not finished (workflows, dependsOn).
const STATUSES = ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

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
<nav class="tabs" aria-label="Views">
  <a href="#/" data-view="overview">Overview</a>
  <a href="#/tasks" data-view="tasks">Tasks</a>
  <a href="#/workers" data-view="workers">Workers</a>
  <a href="#/schedules" data-view="schedules">Schedules</a>
  <a href="#/messages" data-view="messages" id="nav-messages" hidden>Messages</a>
</nav>
<main>
<div id="view-overview" data-view-panel="overview">
  <section class="cards" id="totals">
    ${cards}
    <div class="card s-age"><div class="label">Oldest queued</div><div class="value" data-testid="oldest-age">–</div></div>
  </section>
  <div class="grid">
    <section class="panel wide">
      <h2>Throughput <span class="muted" id="rate" data-testid="rate">–</span></h2>
      <svg id="chart" viewBox="0 0 600 110" preserveAspectRatio="none" role="img" aria-label="Tasks finished per minute, last hour"></svg>
      <div class="legend muted"><span id="chart-max"></span><span><span class="key ok"></span>succeeded <span class="key bad"></span>failed per minute, last hour (kept in Postgres)</span></div>
    </section>
    <section class="panel wide">
      <h2>Queues</h2>
      <div class="scroll"><table class="queues">
        <thead><tr><th>Queue</th><th>Queued</th><th>Running</th><th>Succeeded</th><th>Failed</th><th>Cancelled</th><th>Oldest</th><th>24 h</th><th>Limits</th><th>Last hour</th><th></th></tr></thead>
        <tbody id="queues"><tr><td colspan="11" class="empty">No tasks yet</td></tr></tbody>
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
      <h2>Schedules <a class="more" href="#/schedules">manage</a></h2>
      <div id="schedules" class="list"></div>
    </section>
    <section class="panel" id="messages-panel" hidden>
      <h2>Messages <a class="more" href="#/messages">browse</a></h2>
      <div id="messages"></div>
    </section>
  </div>
</div>
<div id="view-tasks" data-view-panel="tasks" hidden>
  <form id="task-filter" class="panel filters" role="search" aria-label="Filter tasks">
    <label>Queue <select name="queue" id="f-queue"><option value="">all</option></select></label>
    <label>Task <select name="name" id="f-name"><option value="">all</option></select></label>
    <label>Enqueued <select name="range" id="f-range">
      <option value="">any time</option><option value="15m">last 15 min</option><option value="1h">last hour</option><option value="24h">last 24 h</option><option value="7d">last 7 days</option><option value="custom">between…</option>
    </select></label>
    <label class="custom-range" hidden>From <input type="datetime-local" name="after" id="f-after"></label>
    <label class="custom-range" hidden>To <input type="datetime-local" name="before" id="f-before"></label>
    <label>Sort <select name="sort" id="f-sort"><option value="newest">newest</option><option value="oldest">oldest</option><option value="priority">priority (claim order)</option></select></label>
    <label class="grow">Search <input type="search" name="q" id="f-q" placeholder="key, error text or task id" autocomplete="off"></label>
    <button type="submit">Apply</button>
  </form>
  <div class="chips" id="status-chips" role="group" aria-label="Status"></div>
  <section class="panel">
    <div class="bulk" id="bulk">
      <span id="bulk-info" class="muted" aria-live="polite">Select tasks to act on many at once</span>
      <button type="button" class="linkish" id="select-matching" hidden></button>
      <span class="actions">
        <button type="button" class="secondary" data-bulk="retry" data-testid="bulk-retry" disabled>Retry</button>
        <button type="button" class="secondary" data-bulk="promote" data-testid="bulk-promote" disabled>Run now</button>
        <button type="button" class="danger" data-bulk="cancel" data-testid="bulk-cancel" disabled>Cancel</button>
        <button type="button" class="danger" data-bulk="delete" data-testid="bulk-delete" disabled>Delete</button>
        <button type="button" class="secondary" id="redrive-all" data-testid="redrive-all" hidden>Redrive all</button>
      </span>
    </div>
    <div class="scroll"><table class="tasks">
      <thead><tr><th><input type="checkbox" id="select-page" aria-label="Select every task on this page"></th><th>Task</th><th>Queue</th><th>Status</th><th>Tries</th><th>Prio</th><th>Enqueued</th><th>Finished / due</th><th>Last error</th></tr></thead>
      <tbody id="task-rows"><tr><td colspan="9" class="empty">Loading…</td></tr></tbody>
    </table></div>
    <div class="pager"><button type="button" class="secondary" id="page-prev" disabled>← Previous</button><span class="muted" id="page-info"></span><button type="button" class="secondary" id="page-next" disabled>Next →</button></div>
  </section>
</div>
<div id="view-task" data-view-panel="task" hidden>
  <p><a href="#/tasks" id="back-to-list">← Tasks</a></p>
  <section class="panel" id="task-detail" aria-live="polite"></section>
</div>
<div id="view-workflow" data-view-panel="workflow" hidden>
  <p><a href="#/tasks">← Tasks</a></p>
  <section class="panel" id="workflow-detail" aria-live="polite"></section>
</div>
<div id="view-workers" data-view-panel="workers" hidden>
  <section class="panel">
    <h2>Workers <span class="muted" id="workers-count"></span></h2>
    <div class="scroll"><table class="workers">
      <thead><tr><th>Worker</th><th>State</th><th>Host</th><th>PID</th><th>Queues</th><th>Concurrency</th><th>Running</th><th>Last heartbeat</th><th>Started</th><th>Version</th></tr></thead>
      <tbody id="worker-rows"><tr><td colspan="10" class="empty">Loading…</td></tr></tbody>
    </table></div>
  </section>
</div>
<div id="view-schedules" data-view-panel="schedules" hidden>
  <div class="grid">
    <section class="panel">
      <h2>Schedules</h2>
      <div id="schedule-list" class="list"></div>
    </section>
    <section class="panel">
      <h2 id="schedule-form-title">New schedule</h2>
      <form id="schedule-form" class="stack" novalidate>
        <label>Name <input name="name" id="s-name" required autocomplete="off"></label>
        <label>Cron <input name="cron" id="s-cron" required placeholder="0 3 * * *" autocomplete="off"></label>
        <label>Time zone <input name="timezone" id="s-timezone" value="UTC" autocomplete="off"></label>
        <label>Task <select name="task" id="s-task"></select></label>
        <label>Payload (JSON) <textarea name="payload" id="s-payload" rows="4" spellcheck="false">{}</textarea></label>
        <div class="muted" id="s-preview" aria-live="polite"></div>
        <div class="error" id="s-error" role="alert"></div>
        <div class="row"><button type="submit" id="s-save">Save schedule</button><button type="button" class="secondary" id="s-reset">Clear</button></div>
      </form>
    </section>
  </div>
</div>
<div id="view-messages" data-view-panel="messages" hidden>
  <form id="message-filter" class="panel filters" role="search" aria-label="Filter messages">
    <label>Channel <input name="channel" id="m-channel" placeholder="sms, email…" autocomplete="off"></label>
    <label>Status <select name="status" id="m-status"><option value="">all</option><option>queued</option><option>pending</option><option>sending</option><option>sent</option><option>delivered</option><option>read</option><option>failed</option><option>undelivered</option><option>unknown</option></select></label>
    <label class="grow">Bulk send <input name="batch" id="m-batch" placeholder="batch id" autocomplete="off"></label>
    <button type="submit">Apply</button>
  </form>
  <section class="panel" id="message-detail" hidden></section>
  <section class="panel" id="batch-detail" hidden></section>
  <section class="panel">
    <h2>Messages</h2>
    <div class="scroll"><table class="tasks">
      <thead><tr><th>To</th><th>Channel</th><th>Status</th><th>Provider</th><th>Tries</th><th>Created</th><th>Error</th></tr></thead>
      <tbody id="message-rows"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody>
    </table></div>
    <div class="pager"><span></span><button type="button" class="secondary" id="messages-more" hidden>Older →</button></div>
  </section>
  <section class="panel">
    <h2>Bulk sends</h2>
    <div id="batch-list" class="list"></div>
  </section>
</div>
</main>
<dialog id="confirm" aria-labelledby="confirm-text">
  <p id="confirm-text"></p>
  <div class="row"><button type="button" id="confirm-ok" data-testid="confirm-ok">Confirm</button><button type="button" class="secondary" id="confirm-cancel">Cancel</button></div>
</dialog>
<dialog id="limits" aria-labelledby="limits-title">
  <form id="limits-form" class="stack">
    <h2 id="limits-title">Queue limits</h2>
    <label>Concurrency (cluster-wide, empty for none) <input name="concurrency" id="l-concurrency" inputmode="numeric" pattern="[0-9]*" autocomplete="off"></label>
    <label>Rate limit (e.g. 100/m, empty for none) <input name="rate" id="l-rate" autocomplete="off"></label>
    <label>Group concurrency (per group, e.g. 5 or 5, gold=20; empty for none) <input name="groupConcurrency" id="l-group-concurrency" autocomplete="off"></label>
    <label>Group rate limit (per group, e.g. 10/s; empty for none) <input name="groupRate" id="l-group-rate" autocomplete="off"></label>
    <label>Fair (rotate claims among groups) <select name="fair" id="l-fair"><option value="true">yes (default)</option><option value="false">no</option></select></label>
    <label>Dead-letter queue (receives tasks that fail for good; empty for none) <input name="deadLetter" id="l-dead-letter" autocomplete="off"></label>
    <div class="error" id="l-error" role="alert"></div>
    <div class="row"><button type="submit" id="l-save">Save</button><button type="button" class="secondary" id="l-cancel">Cancel</button></div>
  </form>
</dialog>
<footer class="muted"><span id="updated"></span> · <a href="${escapeHtml(p.basePath)}/openapi.json">OpenAPI</a></footer>
<div id="toast" class="toast" role="alert" hidden></div>
<script nonce="${p.nonce}">${dashboardScript}</script>
</body>
</html>
`;
}
