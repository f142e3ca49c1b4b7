// End-to-end: the teaching page in real headless Chromium, driven like a user.
// Run with `node --test tests/e2e/` after `scripts/wasm.sh build`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serveWww, launchBrowser, openPage, counter, counters, requireBuild, RESULTS } from './harness.mjs';

let server;
let browser;

before(async () => {
  requireBuild();
  fs.mkdirSync(RESULTS, { recursive: true });
  server = await serveWww();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

// Polls `read` until `accept` holds or `timeoutMs` passes; returns the last value.
async function waitFor(read, accept, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!accept(value)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

async function setSpeed(page, speed) {
  await page.locator('#speed').selectOption(String(speed));
}

async function broadcastTo(page, node, times = 1) {
  await page.locator('#target').selectOption(String(node));
  for (let i = 0; i < times; i++) await page.getByTestId('broadcast').click();
}

async function runFor(page, virtualMs) {
  const start = await counter(page, 'clock');
  await page.getByTestId('play').click();
  await waitFor(() => counter(page, 'clock'), (t) => t >= start + virtualMs, 20000, `clock to pass ${start + virtualMs}`);
  await page.getByTestId('play').click();
}

test('broadcasts spread, digests skip transfers and save bytes', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=12&seed=3&p=digest`);
  assert.equal(await page.getByTestId('protocol').inputValue(), 'digest');
  const start = await counters(page);
  // At start-up each of the 11 followers checks in with the hub and the hub
  // heartbeats once, so a restarted node would be refilled at once: at most
  // one skipped transfer per follower and two messages each, nothing more.
  assert.ok(start['transfers-skipped'] <= 11, `start-up skips: ${JSON.stringify(start)}`);
  assert.ok(start.messages <= 22, `start-up messages: ${JSON.stringify(start)}`);

  await setSpeed(page, 10);
  // A set big enough that a digest is cheaper than the set it stands for.
  await broadcastTo(page, 0, 20);
  await broadcastTo(page, 7, 20);
  await runFor(page, 3000);
  const early = await counters(page);
  assert.ok(early.messages > 0, 'messages flowed');
  assert.ok(early['bytes-sent'] > 0, 'bytes were sent');
  assert.equal(await page.getByTestId('converged').textContent(), 'converged', 'every node got every value');

  await runFor(page, 3000);
  const later = await counters(page);
  assert.ok(later['transfers-skipped'] > early['transfers-skipped'], `skipped transfers rise: ${JSON.stringify([early, later])}`);
  assert.ok(later['bytes-saved'] > early['bytes-saved'], `bytes saved rise: ${JSON.stringify([early, later])}`);
  assert.ok(later['bytes-saved'] > 0, 'digests saved bytes once sets are in sync');
  assert.equal(later['bytes-full-state'] - later['bytes-sent'], later['bytes-saved'], 'saved = full state - sent');

  // The inspector shows the clicked node's set.
  await page.locator('input[name="click-mode"][value="inspect"]').check();
  // Checking the radio scrolled the controls into view: bring the canvas back.
  await page.locator('canvas.cluster').first().scrollIntoViewIfNeeded();
  const box = await page.locator('canvas.cluster').first().boundingBox();
  // Node 0 sits at the top of the circle, its centre 60 px below the canvas
  // edge (radius 18, cut-off offset 18, label room 24: see render.js layout).
  await page.mouse.click(box.x + box.width / 2, box.y + 60);
  await waitFor(() => page.locator('#inspector caption').first().textContent(), (t) => t.startsWith('n0'), 5000, 'n0 inspected');
  await waitFor(() => page.getByTestId('inspect-count').first().textContent(), (t) => t === '40', 5000, 'inspector set size 40');

  await page.screenshot({ path: path.join(RESULTS, 'page-digest.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a split cluster diverges, and heals back to convergence', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=10&seed=5&p=difference`);
  await setSpeed(page, 10);
  await page.getByTestId('partition').click();
  await broadcastTo(page, 0, 3);
  await broadcastTo(page, 9, 3);
  await runFor(page, 2000);
  assert.equal(await page.getByTestId('converged').textContent(), 'not converged yet', 'halves cannot agree');
  await page.screenshot({ path: path.join(RESULTS, 'page-split.png') });
  await page.getByTestId('heal').click();
  await page.getByTestId('play').click();
  await waitFor(() => page.getByTestId('converged').textContent(), (t) => t === 'converged', 20000, 'convergence after heal');
  await page.getByTestId('play').click();
  assert.deepEqual(errors, []);
});

test('a scenario link replays to identical counters', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=16&seed=11&p=difference&loss=0.1&race=full_state`);
  await setSpeed(page, 10);
  await broadcastTo(page, 2, 5);
  await runFor(page, 700);
  await page.getByTestId('partition').click();
  await broadcastTo(page, 12, 5);
  await runFor(page, 900);
  await page.getByTestId('heal').click();
  // Long enough that opening the link fast-forwards part of the way.
  await runFor(page, 4000);
  await page.locator('#share-at-now').check();
  await page.locator('#share-note').fill('Watch <b>n12</b> & the heal');
  const link = await page.locator('#share').inputValue();
  assert.match(link, /[?&]t=\d+/);
  assert.match(link, /[?&]a=/);
  const original = await counters(page);
  const originalRace = await page.getByTestId('lane-1-summary').textContent();

  const replays = [];
  for (let i = 0; i < 2; i++) {
    const replay = await openPage(browser.context, link);
    replays.push({ counters: await counters(replay.page), race: await replay.page.getByTestId('lane-1-summary').textContent() });
    assert.equal(await replay.page.getByTestId('note').textContent(), 'Watch <b>n12</b> & the heal', 'the note arrives as plain text');
    assert.deepEqual(replay.errors, []);
    if (i === 1) await replay.page.screenshot({ path: path.join(RESULTS, 'page-race.png'), fullPage: true });
    await replay.page.close();
  }
  assert.deepEqual(replays[0], replays[1], 'two openings of one link agree');
  assert.deepEqual(replays[0].counters, original, 'the link reproduces the run it was copied from');
  assert.equal(replays[0].race, originalRace, 'the raced lane reproduces too');
  assert.deepEqual(errors, []);
});

test('full state never skips a transfer', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=8&seed=2&p=digest`);
  await page.getByTestId('protocol').selectOption('full_state');
  await setSpeed(page, 10);
  await broadcastTo(page, 1, 5);
  await runFor(page, 2000);
  const c = await counters(page);
  assert.ok(c.messages > 0);
  assert.equal(c['transfers-skipped'], 0);
  assert.ok(new URL(page.url()).search.includes('p=full_state'), 'the protocol is in the URL');
  assert.deepEqual(errors, []);
});

test('keyboard: arrow keys choose a node, Enter broadcasts to it', { timeout: 30000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=6&seed=1`);
  await page.locator('canvas.cluster').first().focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#target').inputValue(), '2');
  assert.match(new URL(page.url()).search, /a=0b2(&|$)/);
  await page.keyboard.press('k');
  assert.equal(await page.getByTestId('play').getAttribute('aria-pressed'), 'true');
  assert.deepEqual(errors, []);
});

test('narrow screen and 64 nodes: layout fits, frame rate measured', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=64&seed=9&p=difference&race=full_state`);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scroll on a phone-sized screen (overflow ${overflow}px)`);
  await page.screenshot({ path: path.join(RESULTS, 'page-narrow.png'), fullPage: false });

  await page.setViewportSize({ width: 1280, height: 900 });
  await broadcastTo(page, 0, 10);
  await broadcastTo(page, 40, 10);
  await setSpeed(page, 1);
  await page.getByTestId('play').click();
  await page.waitForTimeout(3000);
  const fps = await counter(page, 'fps');
  const stepMs = await counter(page, 'step-ms');
  const drawMs = await counter(page, 'draw-ms');
  await page.screenshot({ path: path.join(RESULTS, 'page-64.png'), fullPage: false });
  console.log(`64 nodes, two lanes, 1x: ${fps} frames/s in headless Chromium (software rendering); per frame: simulator ${stepMs} ms, drawing ${drawMs} ms`);
  assert.ok(fps > 0 && stepMs >= 0 && drawMs > 0);
  assert.deepEqual(errors, []);
});

test('the timeline rewinds by replaying: same moment, same counters', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=9&seed=21&p=difference&loss=0.05`);
  await setSpeed(page, 10);
  await broadcastTo(page, 4, 6);
  await runFor(page, 1500);
  const clock = await counter(page, 'clock');
  const at = await counters(page);
  await runFor(page, 1500);
  const timeline = page.getByTestId('timeline');
  await timeline.fill('0');
  await waitFor(() => counter(page, 'clock'), (t) => t === 0, 5000, 'rewind to 0');
  await timeline.fill(String(clock));
  await waitFor(() => counter(page, 'clock'), (t) => t === clock, 5000, `seek to ${clock}`);
  assert.deepEqual(await counters(page), at);
  assert.deepEqual(errors, []);
});

test('a ready-made scenario link plays by itself: split, heal, converge', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, server.url);
  await page.getByRole('link', { name: /Split in halves, write on both sides/ }).click();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.getByTestId('play').getAttribute('aria-pressed'), 'true', 'play=1 starts playing');
  assert.equal(await page.locator('#lane-1').isVisible(), true, 'the race lane is shown');
  // The canvas description refreshes four times a second: at 3x the split
  // (1000 to 4000 ms virtual) lasts a second of real time.
  await setSpeed(page, 3);
  const description = () => page.locator('canvas.cluster').first().getAttribute('aria-label');
  await waitFor(description, (d) => d.includes('cut into 2 groups'), 20000, 'the split to be described');
  await setSpeed(page, 10);
  await waitFor(() => counter(page, 'clock'), (t) => t > 8000, 20000, 'time after the heal');
  assert.equal(await page.getByTestId('converged').textContent(), 'converged');
  const verdict = await page.getByTestId('race-verdict').textContent();
  assert.match(verdict, /difference sent \d+% of full state's bytes/);
  assert.deepEqual(errors, []);
});

test('while paused, cutting a node off shows at once and a second click reconnects it', { timeout: 30000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=6&seed=1`);
  const description = () => page.locator('canvas.cluster').first().getAttribute('aria-label');
  await page.locator('#target').selectOption('3');
  await page.getByTestId('cut').click();
  await waitFor(description, (d) => d.includes('cut into 2 groups'), 5000, 'n3 drawn cut off');
  await page.getByTestId('cut').click();
  await waitFor(description, (d) => !d.includes('cut into'), 5000, 'n3 drawn reconnected');
  assert.match(new URL(page.url()).search, /a=0i3_0r3(&|$)/);
  assert.equal(await counter(page, 'clock'), 0, 'time did not move');
  assert.deepEqual(errors, []);
});

test('a mangled link opens with defaults and says what it ignored', { timeout: 30000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=999&p=carrier_pigeon&loss=2&speed=7&a=5b1_xx_9b99`);
  const status = await page.locator('#status').textContent();
  for (const part of ['n must be', 'unknown protocol', 'loss must be', 'speed must be', 'bad action "xx"', 'bad node in "9b99"']) {
    assert.ok(status.includes(part), `status mentions ${part}: ${status}`);
  }
  assert.equal(await page.locator('#nodes').inputValue(), '12');
  assert.match(new URL(page.url()).search, /^\?n=12&seed=1&p=digest&a=5b1$/, 'the valid action survives');
  assert.deepEqual(errors, []);
});

test('the overlay and topology controls switch to hub-less gossip on the real peer graph', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=10&seed=2&p=difference`);
  const description = () => page.locator('canvas.cluster').first().getAttribute('aria-label');
  await waitFor(description, (d) => d.includes('difference, star:'), 5000, 'the star described');
  await page.getByTestId('overlay').selectOption('epidemic');
  await page.getByTestId('topology').selectOption('ring');
  assert.match(new URL(page.url()).search, /ov=epidemic&topo=ring/, 'the scenario link carries both');
  // A ring of 10 nodes has 10 links: the drawn graph is the one nodes got.
  await waitFor(description, (d) => d.includes('epidemic on a ring of 10 links'), 5000, 'the ring described');
  await broadcastTo(page, 0, 3);
  await setSpeed(page, 3);
  await runFor(page, 4000);
  assert.equal(await page.getByTestId('converged').textContent(), 'converged', 'gossip along the ring reached everyone');
  const counts = await counters(page);
  assert.ok(counts['transfers-skipped'] > 0, `digest rounds skipped transfers: ${JSON.stringify(counts)}`);
  await page.getByTestId('topology').selectOption('total');
  await waitFor(description, (d) => d.includes('epidemic on a total of 45 links'), 5000, 'the total graph described');
  // Under the star the hub carries the cluster: it is the busiest node.
  await page.getByTestId('overlay').selectOption('star');
  await broadcastTo(page, 3, 3);
  await runFor(page, 4000);
  assert.match(await description(), /the busiest node, n0, sent \d+ messages/);
  assert.deepEqual(errors, []);
});

test('initial values: sets in sync from the start, and the savings counter agrees with a race against full state', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=10&seed=4&p=difference&race=full_state`);
  await page.getByTestId('initial-values').selectOption('1000');
  assert.match(new URL(page.url()).search, /iv=1000/, 'the scenario link carries the initial values');
  await page.locator('#target').selectOption('3');
  await waitFor(() => page.getByTestId('inspect-count').first().textContent(), (t) => t === '1000', 5000, 'n3 to hold 1000 values');
  await broadcastTo(page, 3, 2);
  await setSpeed(page, 3);
  await runFor(page, 3000);
  const c = await counters(page);
  assert.ok(c['bytes-saved'] > 0, `1000 values in sync: digests save bytes ${JSON.stringify(c)}`);
  assert.equal(c['bytes-full-state'] - c['bytes-sent'], c['bytes-saved']);
  // The raced lane is a real full-state run of the same scenario: the
  // verdict's percentage and the counter's are the same figure.
  const verdict = await page.getByTestId('race-verdict').textContent();
  const percent = Number(/sent (\d+)% of full state's bytes/.exec(verdict)?.[1]);
  assert.ok(Number.isFinite(percent), verdict);
  assert.equal(percent, Math.round((100 * c['bytes-sent']) / c['bytes-full-state']), `${verdict} vs ${JSON.stringify(c)}`);
  const saved = Number((await page.getByTestId('saved-percent').textContent()).replace('%', ''));
  assert.ok(Math.abs(saved - (100 - percent)) < 1, `saved ${saved}% beside a verdict of ${percent}%`);
  assert.ok(await counter(page, 'bytes-priced') > 0, 'the older per-message measure is shown on its own line');
  assert.deepEqual(errors, []);
});

test('racing epidemic against the star shows the hub carrying the load', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, `${server.url}?n=16&seed=6&p=difference&ov=epidemic&topo=random&race=star`);
  assert.equal(await page.locator('#lane-1').isVisible(), true, 'the star lane is shown');
  assert.match(await page.locator('#lane-0 .lane-protocol').textContent(), /difference, epidemic on a random/);
  assert.match(await page.locator('#lane-1 .lane-protocol').textContent(), /difference, star/);
  for (const node of [0, 5, 9, 12]) await broadcastTo(page, node);
  await setSpeed(page, 3);
  await runFor(page, 4000);
  const ratio = async (k) => {
    const summary = await page.getByTestId(`lane-${k}-summary`).textContent();
    const m = /busiest n(\d+): \d+ \(([\d.]+)× the mean\)/.exec(summary);
    assert.ok(m, summary);
    return { node: Number(m[1]), ratio: Number(m[2]) };
  };
  const epidemic = await ratio(0);
  const star = await ratio(1);
  assert.equal(star.node, 0, 'under the star the hub n0 is the busiest');
  assert.ok(star.ratio > 2 * epidemic.ratio, `star ${star.ratio}× against epidemic ${epidemic.ratio}×`);
  assert.match(await page.getByTestId('race-verdict').textContent(), /^epidemic sent \d+% of star's bytes$/);
  assert.equal(await page.getByTestId('converged').textContent(), 'converged');
  assert.deepEqual(errors, []);
});

test('a ready-made race: rounds alone spread one value faster on a random graph than on a ring', { timeout: 60000 }, async () => {
  const { page, errors } = await openPage(browser.context, server.url);
  await page.getByRole('link', { name: /Epidemic spread, round by round/ }).click();
  await page.waitForSelector('body[data-ready="true"]');
  assert.match(new URL(page.url()).search, /push=0/);
  assert.equal(await page.getByTestId('eager-push').isChecked(), false, 'pushing is off');
  await setSpeed(page, 10);
  const since = async (k) => {
    const summary = await page.getByTestId(`lane-${k}-summary`).textContent();
    const m = /in sync since (\d+) ms/.exec(summary);
    return m ? Number(m[1]) : null;
  };
  await waitFor(async () => [await since(0), await since(1)], ([ring, random]) => ring > 0 && random > 0, 30000, 'both lanes in sync');
  const [ring, random] = [await since(0), await since(1)];
  assert.ok(random < ring, `random graph in sync at ${random} ms, ring at ${ring} ms`);
  assert.match(await page.locator('#lane-1 .lane-protocol').textContent(), /epidemic on a random/);
  assert.deepEqual(errors, []);
});
