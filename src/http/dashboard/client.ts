/**
 * The dashboard's client script, run in the browser (no dependencies). It polls
 * `{base}/overview` with the token kept in sessionStorage (or the host's cookie),
 * renders everything with `textContent` (task errors are untrusted text) and
 * posts Retry/Cancel/Pause/Resume actions.
 *
 * It is type-checked against the DOM (src/http/dashboard/tsconfig.json), linted
 * like the rest of src/, and compiled into `script.ts` as a string by
 * `scripts/build-dashboard.ts` (part of `npm run build`), which the page inlines.
 */

/** A task as `/overview` lists it (no payload, no result). */
interface TaskSummary {
  id: string;
  name: string;
  queue: string;
  attempts: number;
  maxRetries: number;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  progress: { current: number; total: number | null } | null;
  errors: { attempt: number; message: string }[];
}

/** Counts of one queue. */
interface Counts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  last24h: number;
  oldestQueuedAt: string | null;
}

/** The body of `GET /overview` as the page reads it. */
interface Overview {
  now: string;
  refresh: number;
  status: { queues: Record<string, Counts>; total: Counts };
  queues: { name: string; paused: boolean }[];
  running: TaskSummary[];
  failed: TaskSummary[];
  retrying: TaskSummary[];
  schedules: { name: string; cron: string; task: string; paused: boolean; nextRunAt: string | null }[];
  batches: { id: string; name: string | null; channel: string; total: number; completed: number; failed: number; progress: number }[] | null;
  messages: { channels: Record<string, Record<string, number>> } | null;
  features: { pause: boolean; schedules: boolean; messages: boolean; batches: boolean };
}

/** An API error with its HTTP status. */
interface ApiError extends Error {
  status?: number;
}

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | null | undefined>;

(() => {
  const doc = document;
  const base = doc.body.getAttribute('data-base') || '';
  let refresh = Math.max(200, Number(doc.body.getAttribute('data-refresh')) * 1000 || 2000);
  const KEY = `pgcourier.token:${base}`;
  let token = '';
  try {
    token = sessionStorage.getItem(KEY) || '';
  } catch {
    token = '';
  }
  const samples: { t: number; done: number }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let toastTimer: ReturnType<typeof setTimeout> | undefined;
  let inflight = false;
  const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

  function $<T extends HTMLElement = HTMLElement>(id: string): T {
    return doc.getElementById(id) as T;
  }

  function el(tag: string, attrs?: Attrs | null, children?: Child[]): HTMLElement {
    const node = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'className') node.className = String(v);
      else if (k === 'style') node.style.cssText = String(v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children ?? []) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    }
    return node;
  }

  function replace(container: HTMLElement, nodes: Node[], emptyText: string, asRow = false): void {
    while (container.firstChild) container.removeChild(container.firstChild);
    if (nodes.length === 0 && emptyText) {
      container.appendChild(asRow ? el('tr', null, [el('td', { colspan: 9, className: 'empty', text: emptyText })]) : el('p', { className: 'empty', text: emptyText }));
    }
    for (const n of nodes) container.appendChild(n);
  }

  async function api<T>(path: string, method = 'GET'): Promise<T | null> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers, credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 204) return null;
    const body = (await res.json().catch(() => null)) as (T & { detail?: string }) | null;
    if (!res.ok) {
      const err: ApiError = new Error(body?.detail || res.statusText || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function num(n: unknown): string {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
  }

  function age(ms: number): string {
    if (!(ms >= 0)) return '–';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d`;
  }

  function since(now: number, iso: string | null): string {
    return iso ? age(now - Date.parse(iso)) : '–';
  }

  function setConn(state: string, text: string): void {
    $('conn').className = `conn ${state}`;
    $('conn-text').textContent = text;
  }

  function toast(text: string): void {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      t.hidden = true;
    }, 5000);
  }

  function showAuth(message: string): void {
    $('auth').hidden = false;
    $('forget').hidden = true;
    $('auth-msg').textContent = message || '';
    setConn('error', 'not signed in');
  }

  function act(target: HTMLButtonElement, path: string): void {
    target.disabled = true;
    api(path, 'POST').then(
      () => load(),
      (err: ApiError) => {
        target.disabled = false;
        if (err.status === 401 || err.status === 403) showAuth(err.message);
        else toast(err.message);
      },
    );
  }

  function button(label: string, cls: string, path: string, testid: string): HTMLButtonElement {
    const b = el('button', { type: 'button', className: cls, text: label, 'data-testid': testid }) as HTMLButtonElement;
    b.addEventListener('click', () => act(b, path));
    return b;
  }

  function bar(fraction: number, color: string | null, indeterminate: boolean): HTMLElement {
    const span = el('span');
    if (!indeterminate) span.style.width = `${Math.max(0, Math.min(100, fraction * 100)).toFixed(1)}%`;
    if (color) span.style.background = color;
    return el('div', { className: indeterminate ? 'bar indeterminate' : 'bar', role: 'progressbar', 'aria-valuenow': indeterminate ? null : Math.round(fraction * 100) }, [span]);
  }

  function renderCounts(o: Overview): void {
    const total = o.status.total;
    for (const s of STATUSES) {
      const node = doc.querySelector(`[data-testid="count-${s}"]`);
      if (node) node.textContent = num(total[s]);
    }
    const oldest = doc.querySelector('[data-testid="oldest-age"]');
    if (oldest) oldest.textContent = total.oldestQueuedAt ? since(Date.parse(o.now), total.oldestQueuedAt) : '–';
  }

  function niceMax(v: number): number {
    const p = 10 ** Math.floor(Math.log10(v));
    const n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }

  function renderChart(o: Overview): void {
    const total = o.status.total;
    samples.push({ t: Date.parse(o.now), done: total.succeeded + total.failed });
    if (samples.length > 91) samples.shift();
    // Rate over at least two seconds, so polls that straddle a claim batch do not saw-tooth.
    const rates: number[] = [];
    for (let i = 1; i < samples.length; i++) {
      let j = i - 1;
      const at = (k: number) => samples[k] as { t: number; done: number };
      while (j > 0 && at(i).t - at(j).t < 2000) j--;
      const dt = (at(i).t - at(j).t) / 1000;
      rates.push(dt > 0 ? Math.max(0, at(i).done - at(j).done) / dt : 0);
    }
    const svg = $('chart') as unknown as SVGSVGElement;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const NS = 'http://www.w3.org/2000/svg';
    const W = 600;
    const H = 110;
    const max = niceMax(Math.max(1, ...rates));
    for (const f of [0.25, 0.5, 0.75]) {
      const line = doc.createElementNS(NS, 'line');
      line.setAttribute('x1', '0');
      line.setAttribute('x2', String(W));
      line.setAttribute('y1', String(H * f));
      line.setAttribute('y2', String(H * f));
      line.setAttribute('class', 'grid-line');
      svg.appendChild(line);
    }
    if (rates.length > 0) {
      const step = W / 89;
      const x0 = W - (rates.length - 1) * step;
      const pts = rates.map((r, k) => `${(x0 + k * step).toFixed(1)},${(H - (r / max) * (H - 6)).toFixed(1)}`);
      if (pts.length === 1) pts.unshift(`${(W - step).toFixed(1)},${(pts[0] as string).split(',')[1]}`);
      const area = doc.createElementNS(NS, 'polygon');
      area.setAttribute('points', `${(pts[0] as string).split(',')[0]},${H} ${pts.join(' ')} ${W},${H}`);
      area.setAttribute('class', 'area');
      svg.appendChild(area);
      const line = doc.createElementNS(NS, 'polyline');
      line.setAttribute('points', pts.join(' '));
      line.setAttribute('class', 'line');
      svg.appendChild(line);
    }
    const current = rates.at(-1) ?? 0;
    $('rate').textContent = rates.length ? `${current.toFixed(1)} tasks/s` : 'measuring…';
    $('chart-max').textContent = `max ${max}/s`;
  }

  function renderQueues(o: Overview): void {
    const now = Date.parse(o.now);
    const paused = new Map(o.queues.map((q) => [q.name, q.paused === true]));
    const names = [...new Set([...Object.keys(o.status.queues), ...paused.keys()])].sort();
    const rows = names.map((name) => {
      const c: Partial<Counts> = o.status.queues[name] ?? {};
      const isPaused = paused.get(name) === true;
      const cell = el('td');
      if (o.features.pause) {
        const path = `/queues/${encodeURIComponent(name)}`;
        cell.appendChild(isPaused ? button('Resume', 'secondary', `${path}/resume`, 'resume-queue') : button('Pause', 'secondary', `${path}/pause`, 'pause-queue'));
      }
      const label = el('td', null, [name, ' ', isPaused ? el('span', { className: 'badge', style: '--c:var(--running)', text: 'paused' }) : null]);
      return el('tr', { 'data-queue': name }, [
        label,
        el('td', { text: num(c.queued ?? 0) }),
        el('td', { text: num(c.running ?? 0) }),
        el('td', { text: num(c.succeeded ?? 0) }),
        el('td', { text: num(c.failed ?? 0) }),
        el('td', { text: num(c.cancelled ?? 0) }),
        el('td', { text: c.oldestQueuedAt ? since(now, c.oldestQueuedAt) : '–' }),
        el('td', { text: num(c.last24h ?? 0) }),
        cell,
      ]);
    });
    replace($('queues'), rows, 'No tasks yet', true);
  }

  function taskHead(t: TaskSummary, extra: Child[]): HTMLElement {
    return el('div', { className: 'row' }, [
      el('span', { className: 'name', text: t.name }),
      el('span', { className: 'id', text: `#${t.id}` }),
      el('span', { className: 'badge', style: '--c:var(--queued)', text: t.queue }),
      ...extra,
    ]);
  }

  function renderRunning(o: Overview): void {
    const now = Date.parse(o.now);
    const items = o.running.map((t) => {
      const p = t.progress;
      const of = p && typeof p.total === 'number' && p.total > 0 ? p.total : null;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'running-task' }, [
        taskHead(t, [
          el('span', { className: 'muted', text: `attempt ${t.attempts} · ${since(now, t.startedAt)}` }),
          el('span', { className: 'muted actions', text: p && of !== null ? `${p.current} / ${of}` : p ? String(p.current) : '' }),
        ]),
        bar(p && of !== null ? p.current / of : 0, null, of === null),
      ]);
    });
    $('running-count').textContent = o.status.total.running ? String(o.status.total.running) : '';
    replace($('running'), items, 'No task is running');
  }

  function errorDetails(t: TaskSummary): HTMLElement | null {
    if (!t.errors || t.errors.length < 2) return null;
    return el('details', null, [el('summary', { text: `error history (${t.errors.length})` }), el('ol', null, t.errors.map((e) => el('li', { text: `attempt ${e.attempt}: ${e.message}` })))]);
  }

  function renderFailures(o: Overview): void {
    const now = Date.parse(o.now);
    const failed = o.failed.map((t) =>
      el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'failed-task' }, [
        taskHead(t, [
          el('span', { className: 'badge', style: '--c:var(--failed)', text: 'failed' }),
          el('span', { className: 'muted', text: `${t.attempts} attempt${t.attempts === 1 ? '' : 's'} · ${since(now, t.finishedAt)} ago` }),
          el('span', { className: 'actions' }, [button('Retry', '', `/tasks/${t.id}/retry`, 'retry')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]),
    );
    const retrying = o.retrying.map((t) => {
      const wait = Date.parse(t.runAt) - now;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'retrying-task' }, [
        taskHead(t, [
          el('span', { className: 'badge', style: '--c:var(--running)', text: 'retrying' }),
          el('span', { className: 'muted', text: `attempt ${t.attempts + 1} of ${t.maxRetries + 1}${wait > 0 ? ` in ${age(wait)}` : ' due'}` }),
          el('span', { className: 'actions' }, [button('Cancel', 'danger', `/tasks/${t.id}/cancel`, 'cancel')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]);
    });
    const n = o.status.total.failed;
    const r = retrying.length;
    $('failed-count').textContent = n ? `${n} failed${r ? `, ${r} retrying` : ''}` : r ? `${r} retrying` : '';
    replace($('failed'), [...retrying, ...failed], 'No failed tasks');
  }

  function renderBatches(o: Overview): void {
    $('batches-panel').hidden = o.batches === null;
    if (o.batches === null) return;
    const items = o.batches.slice(0, 10).map((b) => {
      const fraction = b.progress / 100;
      return el('div', { className: 'item', 'data-testid': 'batch' }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: b.name ?? b.id }),
          el('span', { className: 'badge', style: '--c:var(--queued)', text: b.channel }),
          el('span', { className: 'muted actions', text: `${b.completed} sent · ${b.failed} failed · ${b.total} total (${Math.round(fraction * 100)}%)` }),
        ]),
        bar(fraction, 'var(--succeeded)', false),
      ]);
    });
    replace($('batches'), items, 'No bulk sends yet');
  }

  function renderSchedules(o: Overview): void {
    const now = Date.parse(o.now);
    const items = o.schedules.map((s) => {
      const paused = s.paused === true;
      const actions = el('span', { className: 'actions' });
      if (o.features.schedules) {
        const path = `/schedules/${encodeURIComponent(s.name)}`;
        actions.appendChild(paused ? button('Resume', 'secondary', `${path}/resume`, 'resume-schedule') : button('Pause', 'secondary', `${path}/pause`, 'pause-schedule'));
      }
      return el('div', { className: 'item', 'data-testid': 'schedule' }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: s.name }),
          el('span', { className: 'id', text: s.cron }),
          el('span', { className: 'muted', text: `→ ${s.task}` }),
          paused ? el('span', { className: 'badge', style: '--c:var(--running)', text: 'paused' }) : null,
          s.nextRunAt && !paused ? el('span', { className: 'muted', text: `next in ${age(Date.parse(s.nextRunAt) - now)}` }) : null,
          actions,
        ]),
      ]);
    });
    $('schedules-panel').hidden = false;
    replace($('schedules'), items, 'No schedules');
  }

  function renderMessages(o: Overview): void {
    $('messages-panel').hidden = o.messages === null;
    if (o.messages === null) return;
    const m = o.messages.channels;
    const channels = Object.keys(m);
    const container = $('messages');
    while (container.firstChild) container.removeChild(container.firstChild);
    if (channels.length === 0) {
      container.appendChild(el('p', { className: 'empty', text: 'No messages yet' }));
      return;
    }
    const statuses: string[] = [];
    for (const c of channels) {
      for (const [s, n] of Object.entries(m[c] ?? {})) if (s !== 'total' && !statuses.includes(s) && n > 0) statuses.push(s);
    }
    statuses.push('total');
    const head = el('tr', null, [el('th', { text: 'Channel' }), ...statuses.map((s) => el('th', { text: s }))]);
    const rows = channels.map((c) => el('tr', null, [el('td', { text: c }), ...statuses.map((s) => el('td', { text: num(m[c]?.[s] ?? 0) }))]));
    container.appendChild(el('div', { className: 'scroll' }, [el('table', null, [el('thead', null, [head]), el('tbody', null, rows)])]));
  }

  function render(o: Overview): void {
    $('auth').hidden = true;
    $('forget').hidden = !token;
    setConn('live', 'live');
    renderCounts(o);
    renderChart(o);
    renderQueues(o);
    renderRunning(o);
    renderFailures(o);
    renderBatches(o);
    renderSchedules(o);
    renderMessages(o);
    $('updated').textContent = `updated ${new Date(o.now).toLocaleTimeString()}`;
    if (o.refresh) refresh = Math.max(200, o.refresh * 1000);
  }

  function load(): void {
    if (inflight) return;
    inflight = true;
    clearTimeout(timer);
    let signedOut = false;
    api<Overview>('/overview')
      .then(
        (o) => {
          if (o) render(o);
        },
        (err: ApiError) => {
          if (err.status === 401 || err.status === 403) {
            signedOut = true;
            showAuth(token ? 'that token was refused' : '');
          } else setConn('error', err.message || 'offline');
        },
      )
      .then(() => {
        inflight = false;
        // Signed out: wait for a token instead of polling.
        if (!signedOut) timer = setTimeout(load, doc.hidden ? Math.max(refresh, 10000) : refresh);
      });
  }

  $('auth').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('token');
    token = input.value.trim();
    input.value = '';
    try {
      sessionStorage.setItem(KEY, token);
    } catch {
      // private mode
    }
    load();
  });
  $('forget').addEventListener('click', () => {
    token = '';
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // private mode
    }
    showAuth('');
  });
  doc.addEventListener('visibilitychange', () => {
    if (!doc.hidden) load();
  });
  load();
})();
