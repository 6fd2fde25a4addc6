#include "reports/html_assets.h"

namespace crucible::reports {

const char* const kReportCss = R"CSS(
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg2:#f6f8fa; --good:#1a7f37; --bad:#cf222e; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid var(--line); }
.meta, .muted { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); }
#leaderboard th { cursor: pointer; user-select: none; white-space: nowrap; }
#leaderboard th[aria-sort=ascending]::after { content: " \25B2"; }
#leaderboard th[aria-sort=descending]::after { content: " \25BC"; }
#leaderboard td.num { font-variant-numeric: tabular-nums; }
td.best .score { font-weight: 700; }
tr.reference td { background: #fff8e1; font-style: italic; }
.extras { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; background: var(--bg2);
         border: 1px solid var(--line); font-style: normal; }
.fail { color: var(--bad); font-weight: 700; } .ok { color: var(--good); }
.chart { display: block; margin: 8px 0 16px; max-width: 100%; height: auto; }
.chart .grid { stroke: #e5e7eb; stroke-width: 1; }
.chart .tick, .chart .legend, .chart .value { font-size: 11px; fill: var(--muted); }
.chart .label { font-size: 12px; fill: var(--fg); } .chart .label.best { font-weight: 700; }
.chart .chart-title { font-size: 13px; font-weight: 600; fill: var(--fg); }
.chart .bar.reference { fill-opacity: .35; stroke: #555; stroke-dasharray: 3 2; }
.chart .errbar { stroke: #111; stroke-width: 1.3; fill: none; }
details { margin: 4px 0; } summary { cursor: pointer; }
details.run { border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
details.problem { margin-left: 12px; }
.sample { border-left: 3px solid var(--line); margin: 6px 0 6px 12px; padding: 2px 8px; }
.sample.correct { border-color: var(--good); } .sample.wrong { border-color: var(--bad); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg2); padding: 6px 8px; margin: 4px 0;
      max-height: 480px; overflow: auto; font-size: 12px; }
button.more { font-size: 11px; }
ul.notes li { margin: 2px 0; }
)CSS";

// Sorting: header clicks and #sort=<key>[:asc|:desc]; rows without a value stay last. Measured
// rows sort within their tbody; reference rows keep their own tbody below.
const char* const kReportJs = R"JS(
(function () {
  'use strict';
  var table = document.getElementById('leaderboard');
  function headerIndex(key) {
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) if (ths[i].getAttribute('data-key') === key) return i;
    return -1;
  }
  function cellValue(row, idx) {
    var v = row.cells[idx] ? row.cells[idx].getAttribute('data-value') : null;
    return v === null || v === '' ? null : v;
  }
  function compare(a, b, numeric) {
    if (numeric) return parseFloat(a) - parseFloat(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function sortBy(key, dir) {
    if (!table) return false;
    var idx = headerIndex(key);
    if (idx < 0) return false;
    var th = table.tHead.rows[0].cells[idx];
    var numeric = th.getAttribute('data-type') === 'number';
    if (dir !== 'asc' && dir !== 'desc') dir = numeric ? 'desc' : 'asc';
    for (var t = 0; t < table.tBodies.length; t++) {
      var body = table.tBodies[t];
      var rows = Array.prototype.slice.call(body.rows);
      rows.forEach(function (r, i) { r.__pos = i; });
      rows.sort(function (a, b) {
        var x = cellValue(a, idx), y = cellValue(b, idx);
        if (x === null || y === null) return (x === null) - (y === null) || a.__pos - b.__pos;
        var c = compare(x, y, numeric);
        if (c === 0) return a.__pos - b.__pos;
        return dir === 'desc' ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++)
      ths[i].setAttribute('aria-sort', i === idx ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
    table.setAttribute('data-sorted', key + ':' + dir);
    return true;
  }
  function sortFromHash() {
    var m = /(?:^#|&)sort=([^&]*)/.exec(location.hash || '');
    if (!m) return;
    var spec = decodeURIComponent(m[1]);
    var dir = '';
    var c = spec.lastIndexOf(':');
    if (c >= 0 && /^(asc|desc)$/.test(spec.slice(c + 1))) { dir = spec.slice(c + 1); spec = spec.slice(0, c); }
    sortBy(spec, dir);
  }
  if (table) {
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) {
      ths[i].addEventListener('click', function (ev) {
        var key = this.getAttribute('data-key');
        var cur = table.getAttribute('data-sorted') || '';
        var numeric = this.getAttribute('data-type') === 'number';
        var dir = numeric ? 'desc' : 'asc';
        if (cur === key + ':' + dir) dir = dir === 'asc' ? 'desc' : 'asc';
        sortBy(key, dir);
      });
    }
    sortFromHash();
    window.addEventListener('hashchange', sortFromHash);
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target;
    if (!b || !b.classList || !b.classList.contains('more')) return;
    var rest = b.previousElementSibling && b.previousElementSibling.querySelector('.rest');
    if (!rest) return;
    var show = rest.hasAttribute('hidden');
    if (show) rest.removeAttribute('hidden'); else rest.setAttribute('hidden', '');
    b.textContent = show ? b.getAttribute('data-less') : b.getAttribute('data-more');
  });
  window.crucibleSort = sortBy;
})();
)JS";

}  // namespace crucible::reports
