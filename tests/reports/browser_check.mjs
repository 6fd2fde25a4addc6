// Opens a leaderboard.html in Debian's Chromium through playwright-core, clicks column headers
// like a person would, and prints what it saw as one JSON object:
//   {rows, charts, errorBars, passkCurves, sorted: {<key>: [labels after 1st click], ...}}
// Usage: node browser_check.mjs NODE_MODULES_DIR FILE.html COLUMN_KEY...
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesDir, htmlFile, ...keys] = process.argv.slice(2);
const require = createRequire(path.join(modulesDir, 'noop.js'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) external.push(r.url()); });
  await page.goto('file://' + path.resolve(htmlFile));
  const out = {
    rows: await page.locator('#leaderboard tbody tr').count(),
    charts: await page.locator('svg').count(),
    barCharts: await page.locator('svg.bar-chart, .bar-chart svg, svg .bar-row').count(),
    passkCharts: await page.locator('.passk-chart').count(),
    sorted: {},
    external,
  };
  const labels = () => page.$$eval('#leaderboard tbody tr.measured', (trs) => trs.map((tr) => tr.dataset.model));
  for (const key of keys) {
    const th = page.locator(`#leaderboard th[data-key="${key}"]`);
    await th.click();
    const first = await labels();
    await th.click();
    const second = await labels();
    out.sorted[key] = { first, second, state: await page.locator('#leaderboard').getAttribute('data-sorted') };
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
