#!/usr/bin/env node
// First paint of `bnstep html`'s pages in headless Chromium (Debian `chromium`, driven by
// playwright-core from npm, as the browser tests install it into build/npm), beside a peer
// in the same run: the same lesson's `bnstep run` text as a plain HTML page (a <pre>, no
// script, no style), the least a browser can show of it.
//   node bench/page_paint.mjs [BNSTEP] [LESSON...]     default build/bnstep, batchnorm and the largest lesson
//   RUNS=20 node bench/page_paint.mjs                  loads per page (default 10); the medians are printed
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(root, 'build', 'npm', 'node_modules', '/'));
const { chromium } = require('playwright-core');
const bnstep = process.argv[2] || path.join(root, 'build', 'bnstep');
const lessons = process.argv.length > 3 ? process.argv.slice(3) : ['batchnorm', 'depthwise-separable'];
const runs = Number(process.env.RUNS || 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnstep-paint-'));

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({ executablePath: process.env.BNSTEP_CHROMIUM || '/usr/bin/chromium' });
const context = await browser.newContext({ offline: true });
// Each load in the same tab, from about:blank: the page's own cost, not a new tab's.
const page = await context.newPage();
async function paint(file) {
  const times = [];
  for (let k = 0; k < runs; ++k) {
    await page.goto('about:blank');
    await page.goto(`file://${file}#backward-7`, { waitUntil: 'load' });
    times.push(await page.evaluate(() => new Promise((done) => {
      const seen = () => performance.getEntriesByName('first-contentful-paint')[0];
      const wait = () => (seen() ? done(seen().startTime) : requestAnimationFrame(wait));
      wait();
    })));
  }
  return median(times);
}

console.log(`first contentful paint in headless Chromium, median of ${runs} loads (ms)`);
console.log('lesson                  page KB  page ms  run text as HTML ms  ratio');
for (const lesson of lessons) {
  const page = path.join(dir, `${lesson}.html`);
  execFileSync(bnstep, ['html', lesson, '-o', page]);
  const text = execFileSync(bnstep, ['run', lesson, '--no-pager', '--color', 'never']).toString();
  const peer = path.join(dir, `${lesson}-run.html`);
  fs.writeFileSync(peer, `<!DOCTYPE html><meta charset="utf-8"><title>${lesson}</title><pre>${escape(text)}</pre>`);
  const ours = await paint(page);
  const theirs = await paint(peer);
  const kb = (fs.statSync(page).size / 1024).toFixed(0);
  console.log(`${lesson.padEnd(22)}  ${kb.padStart(7)}  ${ours.toFixed(1).padStart(7)}  ${theirs.toFixed(1).padStart(19)}  ${(ours / theirs).toFixed(2).padStart(5)}`);
}
await browser.close();
fs.rmSync(dir, { recursive: true });
