/**
 * The console's only stylesheet, script and icon, kept as strings so `tsc` ships them with
 * the code (no build chain, nothing to copy) and served as files from /console/assets, so the
 * Content-Security-Policy can refuse every inline script and style. System fonts only: the
 * console works with no internet.
 */

export const STYLESHEET = `
:root { --sent: #2f9e5b; --failed: #d64545; --skipped: #d9a21b; --track: #e6e8eb; --ink: #1d232a; --muted: #5d6875;
        --line: #d7dbe0; --accent: #2457c5; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 16px; padding: 10px 24px; background: #18202b; color: #fff; }
header.top a { color: #fff; text-decoration: none; }
header.top .brand { font-weight: 700; letter-spacing: .02em; }
header.top nav { margin-left: auto; display: flex; gap: 16px; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 4px 0 16px; word-break: break-word; }
h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
section.card > h2:first-child, section.card > p:first-child { margin-top: 0; }
a { color: var(--accent); }
.crumbs { color: var(--muted); font-size: 13px; }
.crumbs a { color: var(--muted); }
.muted, .empty { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid var(--line); border-radius: 6px;
      padding: 8px 10px; margin: 0; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: #fafbfc; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 280px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.settings dt { color: var(--muted); }
dl.settings dd { margin: 0; word-break: break-word; }
.numbers { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 10px; margin: 0 0 14px; }
.numbers div { background: #fafbfc; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.numbers dt { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.numbers dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.numbers dd.small { font-size: 14px; font-weight: 500; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
          background: var(--track); color: var(--ink); }
.status[data-status="completed"], .status[data-status="sent"], .status[data-status="yes"] { background: #dcf2e4; color: #1c6b3c; }
.status[data-status="failed"], .status[data-status="cancelled"] { background: #fbe1e1; color: #9c2525; }
.status[data-status="skipped"] { background: #fbf0d3; color: #7a5a0c; }
.status[data-status="delivering"], .status[data-status="dispatching"], .status[data-status="sending"],
.status[data-status="queued"] { background: #dfe8fb; color: #1f4aa8; }
.progress { display: flex; align-items: center; gap: 10px; min-width: 240px; }
svg.bar { width: 100%; max-width: 420px; height: 12px; border-radius: 6px; overflow: hidden; flex: 1 1 auto; }
.progress-label { white-space: nowrap; font-size: 12.5px; color: var(--muted); font-variant-numeric: tabular-nums; }
rect.track { fill: var(--track); }
rect.sent { fill: var(--sent); }
rect.failed { fill: var(--failed); }
rect.skipped { fill: var(--skipped); }
.live { font-size: 12px; color: var(--accent); }
.live:empty { display: none; }
[data-stale] .live { color: var(--failed); }
figure.chart { margin: 0; }
figure.chart svg { width: 100%; height: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
figure.chart line.axis { stroke: #9aa3ad; stroke-width: 1; }
figure.chart text.tick { font-size: 11px; fill: var(--muted); }
figure.chart g.bucket:hover rect { opacity: .8; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 6px; }
.legend::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px;
                  vertical-align: -1px; }
.legend.sent::before { background: var(--sent); }
.legend.failed::before { background: var(--failed); }
.legend.skipped::before { background: var(--skipped); }
form.filters { display: flex; flex-wrap: wrap; align-items: end; gap: 12px; margin: 0 0 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
form.filters select, form.filters button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px;
                                           background: #fff; }
form.filters button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
.pager { margin-top: 12px; display: flex; gap: 16px; }
.error-page { text-align: center; padding-top: 48px; }
.error-page .code { font-size: 56px; font-weight: 700; color: var(--muted); margin: 0; }
`;

/**
 * Live progress: every element marked `data-live-run` polls its run's progress JSON (same
 * origin, so the browser's Basic credentials go with it) until the run is final, and copies
 * what the server computed into the page: display fields by `data-field`, the bar's geometry by
 * `data-bar`, the status by `data-status`. No arithmetic here; the server owns every number.
 */
export const SCRIPT = `'use strict';
(function () {
  var POLL_MS = 1500;
  var RETRY_MS = 5000;

  function apply(root, live) {
    root.querySelectorAll('[data-field]').forEach(function (el) {
      var value = live.fields[el.getAttribute('data-field')];
      if (typeof value === 'string') el.textContent = value;
    });
    Object.keys(live.bar).forEach(function (outcome) {
      var rect = root.querySelector('[data-bar="' + outcome + '"]');
      if (!rect) return;
      rect.setAttribute('x', String(live.bar[outcome].x));
      rect.setAttribute('width', String(live.bar[outcome].width));
    });
    var bar = root.querySelector('svg.bar');
    if (bar) bar.setAttribute('aria-label', live.fields.label);
    root.querySelectorAll('[data-status]').forEach(function (el) {
      el.setAttribute('data-status', live.run.status);
    });
  }

  function watch(root) {
    var url = root.getAttribute('data-live-run');
    function tick() {
      fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
        .then(function (response) {
          if (!response.ok) throw new Error('progress answered ' + response.status);
          return response.json();
        })
        .then(function (live) {
          root.removeAttribute('data-stale');
          apply(root, live);
          if (!live.final) setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          root.setAttribute('data-stale', '');
          root.querySelectorAll('[data-field="live"]').forEach(function (el) {
            el.textContent = 'connection lost, retrying';
          });
          setTimeout(tick, RETRY_MS);
        });
    }
    setTimeout(tick, POLL_MS);
  }

  document.querySelectorAll('[data-live-run]').forEach(watch);
})();
`;

export const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#18202b"/><path d="M4 11V5h2v2h4V5h2v6h-2V9H6v2z" fill="#fff"/></svg>`;
