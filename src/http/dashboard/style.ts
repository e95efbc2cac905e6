/** The dashboard's CSS (inline; light and dark schemes). */
export const dashboardStyle = `
:root{--bg:#f5f6f8;--panel:#fff;--text:#1c2330;--muted:#6b7484;--line:#e3e6eb;--accent:#4f46e5;
--queued:#3b82f6;--running:#f59e0b;--succeeded:#10b981;--failed:#ef4444;--cancelled:#94a3b8;--age:#8b5cf6;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f131a;--panel:#171c25;--text:#e6e9ef;--muted:#8d96a7;--line:#262d3a;--accent:#818cf8}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;align-items:center;gap:16px;flex-wrap:wrap;padding:12px 24px;background:var(--panel);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
.brand{display:flex;align-items:center;gap:8px;color:var(--accent)}
.brand h1{font-size:17px;margin:0;color:var(--text);font-weight:650;letter-spacing:.2px}
.conn{display:flex;align-items:center;gap:6px;color:var(--muted);font-size:13px}
.conn .dot{width:8px;height:8px;border-radius:50%;background:var(--cancelled)}
.conn.live .dot{background:var(--succeeded);box-shadow:0 0 0 3px color-mix(in srgb,var(--succeeded) 25%,transparent)}
.conn.error .dot{background:var(--failed)}
.auth{display:flex;align-items:center;gap:8px;margin-left:auto}
.auth label{font-size:13px;color:var(--muted)}
.auth input{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--text);width:260px}
button{font:inherit;font-size:13px;padding:5px 12px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button:disabled{opacity:.5;cursor:default}
button.ghost{background:transparent;color:var(--muted);border-color:var(--line);margin-left:auto}
button.secondary{background:transparent;color:var(--text);border-color:var(--line)}
button.danger{background:transparent;color:var(--failed);border-color:color-mix(in srgb,var(--failed) 45%,transparent)}
main{padding:20px 24px;max-width:1400px;margin:0 auto}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:12px;margin-bottom:16px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:12px 14px;border-top:3px solid var(--c,var(--line))}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.5px}
.card .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px}
.s-waiting{--c:var(--cancelled)}.s-queued{--c:var(--queued)}.s-running{--c:var(--running)}.s-succeeded{--c:var(--succeeded)}.s-failed{--c:var(--failed)}.s-cancelled{--c:var(--cancelled)}.s-age{--c:var(--age)}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.wide{grid-column:1/-1}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
.panel h2{font-size:14px;margin:0 0 10px;font-weight:650;display:flex;gap:8px;align-items:baseline}
.muted{color:var(--muted);font-weight:400;font-size:12px}
#chart{width:100%;height:110px;display:block}
#chart .grid-line{stroke:var(--line);stroke-width:1}
#chart .area{fill:color-mix(in srgb,var(--succeeded) 18%,transparent)}
#chart .line{fill:none;stroke:var(--succeeded);stroke-width:2;vector-effect:non-scaling-stroke}
.legend{display:flex;justify-content:space-between;margin-top:4px}
table{width:100%;min-width:max-content;border-collapse:collapse;font-variant-numeric:tabular-nums}
th{white-space:nowrap;font-size:11px;text-transform:uppercase;letter-spacing:.3px;color:var(--muted);font-weight:600;text-align:right;padding:4px 5px;border-bottom:1px solid var(--line)}
td{padding:6px 5px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
th:first-child,td:first-child{text-align:left;font-weight:600}
tr:last-child td{border-bottom:0}
td.empty,p.empty{color:var(--muted);text-align:center;font-weight:400;padding:14px 0;margin:0}
.scroll{overflow-x:auto}
.wf-graph{display:block;margin:8px 0 4px;font-size:12px}
.wf-node rect{fill:color-mix(in srgb,var(--c,var(--muted)) 16%,var(--panel));stroke:var(--c,var(--muted));stroke-width:1.5}
.wf-node:focus rect,.wf-node:hover rect{stroke-width:3}
.wf-label{fill:var(--text);font-weight:600}
.wf-state{fill:var(--muted)}
.wf-edge{fill:none;stroke:var(--muted);stroke-width:1.5}
td button{padding:3px 10px}
.badge{display:inline-block;font-size:11px;padding:1px 7px;border-radius:10px;background:color-mix(in srgb,var(--c) 16%,transparent);color:var(--c);font-weight:600}
.list .item{padding:8px 0;border-bottom:1px solid var(--line)}
.list .item:last-child{border-bottom:0}
.row{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.row .name{font-weight:600}
.row .id{color:var(--muted);font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.row .actions{margin-left:auto;display:flex;gap:6px}
.bar{display:flex;height:8px;border-radius:4px;background:var(--line);overflow:hidden;margin-top:6px}
.bar>span{display:block;flex:none;height:100%;background:var(--c,var(--running));transition:width .4s}
.bar.indeterminate>span{width:35%;animation:slide 1.3s infinite ease-in-out}
@keyframes slide{0%{margin-left:-35%}100%{margin-left:100%}}
.error{margin-top:4px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;color:var(--failed);white-space:pre-wrap;word-break:break-word;max-height:4.4em;overflow:hidden}
details{margin-top:4px;font-size:12px;color:var(--muted)}
details ol{margin:4px 0 0;padding-left:20px}
.toast{position:fixed;bottom:20px;right:20px;background:var(--text);color:var(--bg);padding:10px 14px;border-radius:8px;max-width:420px;font-size:13px}
footer{text-align:center;padding:8px 0 24px}
footer a{color:var(--muted)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible,pre:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.tabs{display:flex;gap:4px;padding:0 24px;background:var(--panel);border-bottom:1px solid var(--line);overflow-x:auto}
.tabs a{padding:9px 12px;color:var(--muted);text-decoration:none;border-bottom:2px solid transparent;white-space:nowrap}
.tabs a[aria-current=page]{color:var(--text);border-bottom-color:var(--accent);font-weight:600}
.more{margin-left:auto;font-size:12px;font-weight:400}
#chart .line-failed{fill:none;stroke:var(--failed);stroke-width:1.5;vector-effect:non-scaling-stroke}
.key{display:inline-block;width:10px;height:3px;margin:0 4px 2px 8px;vertical-align:middle}.key.ok{background:var(--succeeded)}.key.bad{background:var(--failed)}
.spark{width:60px;height:16px;display:inline-block;vertical-align:middle}
.spark polyline{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}.spark .ok{stroke:var(--succeeded)}.spark .bad{stroke:var(--failed)}
td.actions-cell{display:flex;gap:6px;justify-content:flex-end}
input,select,textarea{font:inherit;font-size:13px;padding:5px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--text);max-width:100%}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin-bottom:10px}
.filters label{display:flex;flex-direction:column;gap:3px;font-size:12px;color:var(--muted)}
.filters .grow{flex:1 1 180px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:10px}
.chip{display:inline-flex;gap:4px;align-items:center;padding:3px 10px;border-radius:14px;border:1px solid var(--line);background:var(--panel);color:var(--text);text-decoration:none;font-size:13px}
.chip .n{color:var(--c);font-weight:650;font-variant-numeric:tabular-nums}
.chip[aria-current=true]{border-color:var(--c);background:color-mix(in srgb,var(--c) 14%,var(--panel))}
.bulk{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}
.bulk .actions{margin-left:auto;display:flex;gap:6px;flex-wrap:wrap}
button.linkish{background:none;border:0;color:var(--accent);padding:0;text-decoration:underline}
table.tasks td,table.tasks th{text-align:left}
table.tasks td.error-cell{max-width:320px;overflow:hidden;text-overflow:ellipsis;color:var(--failed);font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:10px;gap:8px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
tr.gone td{opacity:.5}
table.workers td,table.workers th{text-align:left}
.detail-head h2{margin:0;font-size:18px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:8px 16px;margin:14px 0}
.fact dt{font-size:11px;text-transform:uppercase;letter-spacing:.3px;color:var(--muted)}
.fact dd{margin:0;word-break:break-word}
h3{font-size:13px;margin:14px 0 6px}
.grid.two{gap:12px}
pre{margin:0;padding:10px;background:var(--bg);border:1px solid var(--line);border-radius:6px;overflow:auto;max-height:360px;font-size:12px;line-height:1.4;white-space:pre-wrap;word-break:break-word}
.timeline{list-style:none;margin:0;padding:0 0 0 14px;border-left:2px solid var(--line)}
.timeline .attempt{position:relative;padding:6px 0 10px 8px}
.timeline .attempt::before{content:"";position:absolute;left:-21px;top:11px;width:10px;height:10px;border-radius:50%;background:var(--cancelled)}
.timeline .o-failed::before{background:var(--failed)}.timeline .o-succeeded::before{background:var(--succeeded)}.timeline .o-running::before{background:var(--running)}
.timeline .error{max-height:none}
.last-error{max-height:none}
pre.trace{margin-top:4px;color:var(--muted)}
form.stack{display:flex;flex-direction:column;gap:10px}
form.stack label{display:flex;flex-direction:column;gap:3px;font-size:12px;color:var(--muted)}
form.stack textarea{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
dialog{border:1px solid var(--line);border-radius:10px;background:var(--panel);color:var(--text);padding:18px;max-width:min(440px,92vw)}
dialog::backdrop{background:rgba(0,0,0,.35)}
dialog h2{font-size:15px;margin:0}
@media (max-width:1000px){.cards{grid-template-columns:repeat(3,minmax(0,1fr))}.grid{grid-template-columns:1fr}}
@media (max-width:520px){header{padding:10px 12px;gap:8px}.tabs{padding:0 8px}main{padding:12px 10px}.cards{grid-template-columns:repeat(2,minmax(0,1fr))}.auth{margin-left:0;flex-wrap:wrap}.auth input{width:100%}.filters label{flex:1 1 140px}.card .value{font-size:22px}.toast{left:12px;right:12px;bottom:12px}}
`;
