// The Swagger page in a real headless Chromium (Debian's `chromium`, driven by playwright-core): served locally by
// serve, it lists the routes, and "Try it out" on /healthz gets a 200. The screenshot stays in .tap/screenshots/.

import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import t from 'tap';
import { buildServer } from '../../lib/serve/server.ts';
import { UpdateQueue } from '../../lib/serve/updates.ts';
import { requireBin } from '../harness/require-bin.ts';

const SHOTS = fileURLToPath(new URL('../../.tap/screenshots/', import.meta.url));

t.test(
  'when the Swagger page is opened in Chromium then it lists the routes and Try it out on /healthz answers 200',
  async (t) => {
    const browserPath = requireBin(t, 'chromium');
    if (!browserPath) return;
    const updates = new UpdateQueue({
      runner: async () => ({ exitCode: 0, workloads: [], migrations: [], rolledBack: [] }),
    });
    const app = await buildServer({
      keys: [],
      updates,
      webhookSecrets: {},
      onPushes() {},
      ready: async () => true,
      version: '0.0.0-test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    t.teardown(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const browser = await chromium.launch({
      executablePath: browserPath,
      headless: true,
      args: ['--no-sandbox'],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${port}/`) && !r.url().startsWith('data:'))
        external.push(r.url());
    });
    await page.goto(`http://127.0.0.1:${port}/swagger`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock-summary-path', { timeout: 15_000 });
    const paths = await page.$$eval('.opblock-summary-path', (els) =>
      els.map((e) => e.getAttribute('data-path') ?? e.textContent),
    );
    for (const p of ['/healthz', '/updates', '/updates/{uuid}', '/v1/webhooks/{source}'])
      t.ok(paths.includes(p), `${p} is listed`);
    const op = page.locator('#operations-probes-get_healthz');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = await op
      .locator('.live-responses-table tr.response .response-col_status')
      .first()
      .textContent({ timeout: 10_000 });
    t.equal(status?.trim(), '200');
    mkdirSync(SHOTS, { recursive: true });
    const shot = join(SHOTS, 'swagger-healthz.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.comment(`screenshot: ${shot}`);
    t.same(external, [], 'nothing is loaded from outside the server (no CDN)');
  },
);
