'use strict';
/** Number and table formatting for the printed results (Markdown tables, readable in a terminal too). */

function num(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  return Number(x).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const secs = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1));
const mib = (kib) => (kib === null || kib === undefined ? '-' : num(kib / 1024, 0));
const ratio = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`);
const rate = (items, ms) => (ms > 0 ? (items * 1000) / ms : null);

function table(columns, rows) {
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals) => `| ${vals.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** One row of a side's results: records, wall, records/s, peak RSS. */
function sideRow(side, r, extra = {}) {
  return {
    side,
    records: num(r.items),
    'wall s': secs(r.ms),
    'records/s': num(rate(r.items, r.ms)),
    'peak RSS MiB': mib(r.peakRssKiB),
    'CPU s': secs(r.cpuMs),
    ...extra,
  };
}

module.exports = { num, secs, mib, ratio, rate, table, sideRow };
