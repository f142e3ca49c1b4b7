// Shared by the end-to-end tests: a static server for www/ on a free
// 127.0.0.1 port, and Debian's headless Chromium through playwright-core
// (no browser downloads), with a page that fails the test on console errors.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WWW = path.join(ROOT, 'www');
export const RESULTS = path.join(ROOT, 'test-results');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export function requireBuild() {
  const wasm = path.join(WWW, 'pkg', 'anti_entropy_bg.wasm');
  if (!fs.existsSync(wasm)) {
    throw new Error(`${wasm} is missing: run scripts/wasm.sh build first`);
  }
}

// Serves www/ read-only; resolves to { url, close }.
export function serveWww() {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(WWW, urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath);
    if (!file.startsWith(WWW + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(data);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// A new page that records console errors and uncaught exceptions in `errors`.
export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => errors.push(`page: ${err.message}`));
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  return { page, errors };
}

export async function counter(page, testId) {
  const text = await page.getByTestId(testId).textContent();
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`counter ${testId} is not a number: "${text}"`);
  return value;
}

export async function counters(page) {
  const ids = ['transfers-skipped', 'bytes-sent', 'bytes-saved', 'messages', 'bytes-full-state', 'clock'];
  const out = {};
  for (const id of ids) out[id] = await counter(page, id);
  return out;
}
