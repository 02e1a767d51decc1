#!/usr/bin/env node
'use strict';
/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package / file,
 * and optionally the inclusive time of functions matching a pattern.
 *
 *   node bench/lib/cpuprofile.js <file.cpuprofile> [--top 25] [--incl regex]
 */
const fs = require('node:fs');

function summarise(file, { top = 25, incl = null } = {}) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
  const total = [...dt.values()].reduce((a, b) => a + b, 0);
  const where = (cf) => {
    const u = cf.url || '';
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    if (m) return m[1];
    if (u.includes('/bench/.build/')) return u.replace(/.*\/bench\/\.build\//, '');
    if (u.startsWith('node:')) return u;
    return u ? u.replace(/.*\/work\/main\//, '') : `(${cf.functionName || 'native'})`;
  };
  const self = new Map();
  const pkg = new Map();
  for (const n of p.nodes) {
    const t = dt.get(n.id) || 0;
    if (!t) continue;
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame)}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) || 0) + t);
    const w = where(n.callFrame);
    pkg.set(w, (pkg.get(w) || 0) + t);
  }
  const fmt = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  let out = `total sampled ${(total / 1000).toFixed(0)} ms\n\n-- self time by function --\n${fmt(self)}\n\n-- self time by package / file --\n${fmt(pkg)}\n`;
  if (incl) {
    // Inclusive time of matching frames (counted once per sample stack).
    const parent = new Map();
    for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
    const re = new RegExp(incl);
    const inc = new Map();
    for (const [id, t] of dt) {
      const seen = new Set();
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = byId.get(cur).callFrame;
        const key = `${cf.functionName || '(anonymous)'}  ${where(cf)}:${cf.lineNumber + 1}`;
        if (re.test(key) && !seen.has(key)) {
          seen.add(key);
          inc.set(key, (inc.get(key) || 0) + t);
        }
      }
    }
    out += `\n-- inclusive time of /${incl}/ --\n${fmt(inc)}\n`;
  }
  return out;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const o = { top: 25, incl: null };
  let file;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') o.top = Number(args[++i]);
    else if (args[i] === '--incl') o.incl = args[++i];
    else file = args[i];
  }
  if (!file) {
    process.stderr.write('usage: node bench/lib/cpuprofile.js <file.cpuprofile> [--top N] [--incl regex]\n');
    process.exit(2);
  }
  process.stdout.write(summarise(file, o));
}

module.exports = { summarise };
