/**
 * Takes the README's screenshot of the web console's Playground (docs/console-playground.png):
 * runs the sample Node.js script in headless Chromium against a running service, then shoots.
 *
 *   npm start &                                   # or any running service
 *   node --import tsx scripts/screenshot-console.ts [--url http://127.0.0.1:8080] [--token <jwt>] [--out docs/console-playground.png]
 */
import { parseArgs } from 'node:util';

import { projectPath } from '../src/config/paths.js';
import { launchChromium, openConsole } from '../test/console/browser.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    token: { type: 'string' },
    out: { type: 'string', default: projectPath('docs', 'console-playground.png') },
  },
});

const browser = await launchChromium();
try {
  const { page, problems } = await openConsole(browser, values.url.replace(/\/+$/, ''), values.token ? '#/settings' : '#/playground');
  await page.setViewportSize({ width: 1280, height: 900 });
  if (values.token) {
    await page.getByLabel('JWT').fill(values.token);
    await page.getByRole('button', { name: 'Save token' }).click();
    await page.getByRole('link', { name: 'Playground', exact: true }).click();
  }
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('region', { name: 'Result' }).getByText('"sum"').waitFor();
  await page.getByRole('region', { name: 'Logs' }).getByRole('listitem').first().waitFor();
  // Nothing focused: no caret or focus ring in the picture.
  await page.locator('h1').click();
  await page.screenshot({ path: values.out, fullPage: false });
  if (problems.length > 0) console.error(`the page reported:\n${problems.join('\n')}`);
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
}
