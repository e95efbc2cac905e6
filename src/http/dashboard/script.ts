/**
 * The dashboard's client script (inline, no dependencies). It polls
 * `{base}/overview` with the token kept in sessionStorage (or the host's cookie),
 * renders everything with `textContent` (task errors are untrusted text) and
 * posts Retry/Cancel/Pause/Resume actions.
 */
export const dashboardScript = `
(function () {
  'use strict';
  var doc = document;
  var base = doc.body.getAttribute('data-base') || '';
  var refresh = Math.max(200, Number(doc.body.getAttribute('data-refresh')) * 1000 || 2000);
  var KEY = 'pgcourier.token:' + base;
  var token = '';
  try { token = sessionStorage.getItem(KEY) || ''; } catch (e) { token = ''; }
  var samples = [];
  var timer = null;
  var inflight = false;
  var last = null;
  var STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

  function $(id) { return doc.getElementById(id); }

  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] === undefined || attrs[k] === null) continue;
        if (k === 'text') node.textContent = String(attrs[k]);
        else if (k === 'className') node.className = attrs[k];
        else if (k === 'style') node.style.cssText = attrs[k];
        else node.setAttribute(k, String(attrs[k]));
      }
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    });
    return node;
  }

  function replace(container, nodes, emptyText, asRow) {
    while (container.firstChild) container.removeChild(container.firstChild);
    if (nodes.length === 0 && emptyText) {
      container.appendChild(asRow ? el('tr', null, [el('td', { colspan: 9, className: 'empty', text: emptyText })]) : el('p', { className: 'empty', text: emptyText }));
    }
    nodes.forEach(function (n) { container.appendChild(n); });
  }

  function api(path, method) {
    var headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    return fetch(base + path, { method: method || 'GET', headers: headers, credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (body) {
        if (!res.ok) {
          var err = new Error((body && body.detail) || res.statusText || ('HTTP ' + res.status));
          err.status = res.status;
          throw err;
        }
        return body;
      });
    });
  }

  function num(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : '–'; }

  function age(ms) {
    if (!(ms >= 0)) return '–';
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    var h = Math.floor(m / 60);
    if (h < 48) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd';
  }

  function since(now, iso) { return iso ? age(now - Date.parse(iso)) : '–'; }

  function setConn(state, text) {
    var c = $('conn');
    c.className = 'conn ' + state;
    $('conn-text').textContent = text;
  }

  function toast(text) {
    var t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 5000);
  }

  function showAuth(message) {
    $('auth').hidden = false;
    $('forget').hidden = true;
    $('auth-msg').textContent = message || '';
    setConn('error', 'not signed in');
  }

  function act(button, path) {
    button.disabled = true;
    api(path, 'POST').then(function () { load(); }, function (err) {
      button.disabled = false;
      if (err.status === 401 || err.status === 403) showAuth(err.message);
      else toast(err.message);
    });
  }

  function button(label, cls, path, testid) {
    var b = el('button', { type: 'button', className: cls, text: label, 'data-testid': testid });
    b.addEventListener('click', function () { act(b, path); });
    return b;
  }

  function bar(fraction, color, indeterminate) {
    var span = el('span');
    if (!indeterminate) span.style.width = Math.max(0, Math.min(100, fraction * 100)).toFixed(1) + '%';
    if (color) span.style.background = color;
    return el('div', { className: indeterminate ? 'bar indeterminate' : 'bar', role: 'progressbar', 'aria-valuenow': indeterminate ? null : Math.round(fraction * 100) }, [span]);
  }

  function renderCounts(o) {
    var total = o.status.total;
    STATUSES.forEach(function (s) {
      var node = doc.querySelector('[data-testid="count-' + s + '"]');
      node.textContent = num(total[s]);
    });
    var now = Date.parse(o.now);
    doc.querySelector('[data-testid="oldest-age"]').textContent = total.oldestQueuedAt ? since(now, total.oldestQueuedAt) : '–';
  }

  function renderChart(o) {
    var total = o.status.total;
    var t = Date.parse(o.now);
    samples.push({ t: t, done: total.succeeded + total.failed });
    if (samples.length > 91) samples.shift();
    // Rate over at least two seconds, so polls that straddle a claim batch do not saw-tooth.
    var rates = [];
    for (var i = 1; i < samples.length; i++) {
      var j = i - 1;
      while (j > 0 && samples[i].t - samples[j].t < 2000) j--;
      var dt = (samples[i].t - samples[j].t) / 1000;
      rates.push(dt > 0 ? Math.max(0, samples[i].done - samples[j].done) / dt : 0);
    }
    var svg = $('chart');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var NS = 'http://www.w3.org/2000/svg';
    var W = 600, H = 110, max = 1;
    rates.forEach(function (r) { if (r > max) max = r; });
    max = niceMax(max);
    [0.25, 0.5, 0.75].forEach(function (f) {
      var line = doc.createElementNS(NS, 'line');
      line.setAttribute('x1', '0'); line.setAttribute('x2', String(W));
      line.setAttribute('y1', String(H * f)); line.setAttribute('y2', String(H * f));
      line.setAttribute('class', 'grid-line');
      svg.appendChild(line);
    });
    if (rates.length > 0) {
      var step = W / 89;
      var x0 = W - (rates.length - 1) * step;
      var pts = rates.map(function (r, k) { return (x0 + k * step).toFixed(1) + ',' + (H - (r / max) * (H - 6)).toFixed(1); });
      if (pts.length === 1) pts.unshift((W - step).toFixed(1) + ',' + pts[0].split(',')[1]);
      var area = doc.createElementNS(NS, 'polygon');
      area.setAttribute('points', pts[0].split(',')[0] + ',' + H + ' ' + pts.join(' ') + ' ' + W + ',' + H);
      area.setAttribute('class', 'area');
      svg.appendChild(area);
      var line2 = doc.createElementNS(NS, 'polyline');
      line2.setAttribute('points', pts.join(' '));
      line2.setAttribute('class', 'line');
      svg.appendChild(line2);
    }
    var current = rates.length ? rates[rates.length - 1] : 0;
    $('rate').textContent = rates.length ? current.toFixed(1) + ' tasks/s' : 'measuring…';
    $('chart-max').textContent = 'max ' + max + '/s';
  }

  function niceMax(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }

  function renderQueues(o) {
    var now = Date.parse(o.now);
    var settings = {};
    (o.queues || []).forEach(function (q) { settings[q.name] = q; });
    var names = Object.keys(o.status.queues);
    Object.keys(settings).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
    names.sort();
    var rows = names.map(function (name) {
      var c = o.status.queues[name] || {};
      var paused = settings[name] && settings[name].paused === true;
      var cell = el('td');
      if (o.features.pause) {
        cell.appendChild(paused
          ? button('Resume', 'secondary', '/queues/' + encodeURIComponent(name) + '/resume', 'resume-queue')
          : button('Pause', 'secondary', '/queues/' + encodeURIComponent(name) + '/pause', 'pause-queue'));
      }
      var label = el('td', null, [name, ' ', paused ? el('span', { className: 'badge', style: '--c:var(--running)', text: 'paused' }) : null]);
      return el('tr', { 'data-queue': name }, [
        label,
        el('td', { text: num(c.queued || 0) }),
        el('td', { text: num(c.running || 0) }),
        el('td', { text: num(c.succeeded || 0) }),
        el('td', { text: num(c.failed || 0) }),
        el('td', { text: num(c.cancelled || 0) }),
        el('td', { text: c.oldestQueuedAt ? since(now, c.oldestQueuedAt) : '–' }),
        el('td', { text: num(c.last24h || 0) }),
        cell,
      ]);
    });
    replace($('queues'), rows, 'No tasks yet', true);
  }

  function taskHead(t, extra) {
    return el('div', { className: 'row' }, [
      el('span', { className: 'name', text: t.name }),
      el('span', { className: 'id', text: '#' + t.id }),
      el('span', { className: 'badge', style: '--c:var(--queued)', text: t.queue }),
    ].concat(extra || []));
  }

  function renderRunning(o) {
    var now = Date.parse(o.now);
    var items = o.running.map(function (t) {
      var p = t.progress;
      var hasTotal = p && typeof p.total === 'number' && p.total > 0;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'running-task' }, [
        taskHead(t, [
          el('span', { className: 'muted', text: 'attempt ' + t.attempts + ' · ' + since(now, t.startedAt) }),
          el('span', { className: 'muted actions', text: hasTotal ? p.current + ' / ' + p.total : p ? String(p.current) : '' }),
        ]),
        bar(hasTotal ? p.current / p.total : 0, null, !hasTotal),
      ]);
    });
    $('running-count').textContent = o.status.total.running ? String(o.status.total.running) : '';
    replace($('running'), items, 'No task is running');
  }

  function errorDetails(t) {
    if (!t.errors || t.errors.length < 2) return null;
    return el('details', null, [
      el('summary', { text: 'error history (' + t.errors.length + ')' }),
      el('ol', null, t.errors.map(function (e) { return el('li', { text: 'attempt ' + e.attempt + ': ' + e.message }); })),
    ]);
  }

  function renderFailures(o) {
    var now = Date.parse(o.now);
    var failed = o.failed.map(function (t) {
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'failed-task' }, [
        taskHead(t, [
          el('span', { className: 'badge', style: '--c:var(--failed)', text: 'failed' }),
          el('span', { className: 'muted', text: t.attempts + ' attempt' + (t.attempts === 1 ? '' : 's') + ' · ' + since(now, t.finishedAt) + ' ago' }),
          el('span', { className: 'actions' }, [button('Retry', '', '/tasks/' + t.id + '/retry', 'retry')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]);
    });
    var retrying = o.retrying.map(function (t) {
      var wait = Date.parse(t.runAt) - now;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'retrying-task' }, [
        taskHead(t, [
          el('span', { className: 'badge', style: '--c:var(--running)', text: 'retrying' }),
          el('span', { className: 'muted', text: 'attempt ' + (t.attempts + 1) + ' of ' + (t.maxRetries + 1) + (wait > 0 ? ' in ' + age(wait) : ' due') }),
          el('span', { className: 'actions' }, [button('Cancel', 'danger', '/tasks/' + t.id + '/cancel', 'cancel')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]);
    });
    var n = o.status.total.failed;
    $('failed-count').textContent = n ? n + ' failed' + (retrying.length ? ', ' + retrying.length + ' retrying' : '') : retrying.length ? retrying.length + ' retrying' : '';
    replace($('failed'), retrying.concat(failed), 'No failed tasks');
  }

  function pick(obj, names) {
    for (var i = 0; i < names.length; i++) if (obj && obj[names[i]] !== undefined && obj[names[i]] !== null) return obj[names[i]];
    return undefined;
  }

  function renderBatches(o) {
    var panel = $('batches-panel');
    panel.hidden = o.batches === null;
    if (o.batches === null) return;
    var items = o.batches.slice(0, 10).map(function (b) {
      var p = b.progress && typeof b.progress === 'object' ? b.progress : b;
      var total = Number(pick(p, ['total'])) || 0;
      var completed = Number(pick(p, ['completed', 'sent', 'succeeded'])) || 0;
      var failed = Number(pick(p, ['failed'])) || 0;
      var fraction = typeof p.progress === 'number' ? (p.progress > 1 ? p.progress / 100 : p.progress) : total ? (completed + failed) / total : 0;
      var title = pick(b, ['name', 'id', 'batchId']);
      return el('div', { className: 'item', 'data-testid': 'batch' }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: String(title === undefined ? 'batch' : title) }),
          pick(b, ['channel']) ? el('span', { className: 'badge', style: '--c:var(--queued)', text: String(b.channel) }) : null,
          el('span', { className: 'muted actions', text: completed + ' sent · ' + failed + ' failed · ' + total + ' total (' + Math.round(fraction * 100) + '%)' }),
        ]),
        bar(fraction, 'var(--succeeded)', false),
      ]);
    });
    replace($('batches'), items, 'No bulk sends yet');
  }

  function renderSchedules(o) {
    var panel = $('schedules-panel');
    panel.hidden = o.schedules === null;
    if (o.schedules === null) return;
    var now = Date.parse(o.now);
    var items = o.schedules.map(function (s) {
      var paused = s.paused === true;
      var next = pick(s, ['nextRunAt', 'next_run_at', 'nextRun']);
      var actions = el('span', { className: 'actions' });
      if (o.features.schedules) {
        actions.appendChild(paused
          ? button('Resume', 'secondary', '/schedules/' + encodeURIComponent(s.name) + '/resume', 'resume-schedule')
          : button('Pause', 'secondary', '/schedules/' + encodeURIComponent(s.name) + '/pause', 'pause-schedule'));
      }
      return el('div', { className: 'item', 'data-testid': 'schedule' }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: s.name }),
          el('span', { className: 'id', text: String(pick(s, ['cron', 'expression']) || '') }),
          el('span', { className: 'muted', text: '→ ' + String(pick(s, ['task', 'taskName']) || '') }),
          paused ? el('span', { className: 'badge', style: '--c:var(--running)', text: 'paused' }) : null,
          next && !paused ? el('span', { className: 'muted', text: 'next in ' + age(Date.parse(next) - now) }) : null,
          actions,
        ]),
      ]);
    });
    replace($('schedules'), items, 'No schedules');
  }

  function renderMessages(o) {
    var panel = $('messages-panel');
    panel.hidden = o.messages === null;
    if (o.messages === null) return;
    var m = o.messages.channels && typeof o.messages.channels === 'object' ? o.messages.channels : o.messages;
    var channels = Object.keys(m).filter(function (k) { return m[k] && typeof m[k] === 'object'; });
    var container = $('messages');
    while (container.firstChild) container.removeChild(container.firstChild);
    if (channels.length === 0) {
      container.appendChild(el('p', { className: 'empty', text: 'No messages yet' }));
      return;
    }
    var statuses = [];
    channels.forEach(function (c) {
      Object.keys(m[c]).forEach(function (s) {
        if (s !== 'total' && statuses.indexOf(s) < 0 && typeof m[c][s] === 'number' && m[c][s] > 0) statuses.push(s);
      });
    });
    statuses.push('total');
    var head = el('tr', null, [el('th', { text: 'Channel' })].concat(statuses.map(function (s) { return el('th', { text: s }); })));
    var rows = channels.map(function (c) {
      return el('tr', null, [el('td', { text: c })].concat(statuses.map(function (s) { return el('td', { text: num(m[c][s] || 0) }); })));
    });
    container.appendChild(el('div', { className: 'scroll' }, [el('table', null, [el('thead', null, [head]), el('tbody', null, rows)])]));
  }

  function render(o) {
    last = o;
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
    $('updated').textContent = 'updated ' + new Date(o.now).toLocaleTimeString();
    if (o.refresh) refresh = Math.max(200, o.refresh * 1000);
  }

  function load() {
    if (inflight) return;
    inflight = true;
    clearTimeout(timer);
    var signedOut = false;
    api('/overview').then(render, function (err) {
      if (err.status === 401 || err.status === 403) {
        signedOut = true;
        showAuth(token ? 'that token was refused' : '');
      } else setConn('error', err.message || 'offline');
    }).then(function () {
      inflight = false;
      // Signed out: wait for a token instead of polling.
      if (!signedOut) timer = setTimeout(load, doc.hidden ? Math.max(refresh, 10000) : refresh);
    });
  }

  $('auth').addEventListener('submit', function (e) {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    try { sessionStorage.setItem(KEY, token); } catch (x) { /* private mode */ }
    load();
  });
  $('forget').addEventListener('click', function () {
    token = '';
    try { sessionStorage.removeItem(KEY); } catch (x) { /* private mode */ }
    showAuth('');
  });
  doc.addEventListener('visibilitychange', function () { if (!doc.hidden) load(); });
  load();
})();
`;
