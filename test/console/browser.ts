/**
 * Real headless Chromium for the console tests (Debian's `chromium`, installed by
 * `scripts/setup.mjs --test`, driven by playwright-core: `npx playwright install` cannot
 * download here). One browser per test file; every page records what went wrong in it (errors,
 * failed requests, Content-Security-Policy violations) so a test can assert there was none.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

import { projectPath } from '../../src/config/paths.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where a failing test's screenshot goes (gitignored). */
export const SCREENSHOT_DIR = projectPath('test-results');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: \`npm run setup -- --test\` installs Debian's chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    timeout: 30_000,
  });
}

export interface ConsolePage {
  readonly page: Page;
  /** Page errors, console errors, failed requests and CSP violations, as they happened. */
  readonly problems: string[];
}

/** A new page (its own context: fresh sessionStorage) on the console at `baseUrl`. */
export async function openConsole(browser: Browser, baseUrl: string, hash = '#/playground'): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // An API error answer (a compile error's 400) is logged by Chromium as a failed resource: that is the test's subject, not a problem.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource: the server responded with a status of')) problems.push(`console error: ${message.text()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? '?'})`));
  // A violation is reported as an event in the page (and as a console error): both are caught.
  // (A string: this file is type-checked without the DOM's types.)
  await page.addInitScript("document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));");
  await page.goto(`${baseUrl}/${hash}`);
  return { page, problems };
}

/** Runs `body`; when it fails, saves a screenshot of `page` under test-results/ and says where, then fails as it did. */
export async function withScreenshot(page: Page, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const path = join(SCREENSHOT_DIR, `console-${name.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}.png`);
    await page.screenshot({ path, fullPage: true }).then(
      () => console.error(`screenshot of the failing page: ${path}`),
      (shotError: unknown) => console.error(`no screenshot (${String(shotError)})`),
    );
    throw error;
  }
}

/** Replaces the whole text of the CodeMirror editor labelled `label`, as typing would. */
export async function setEditorText(page: Page, label: string, text: string): Promise<void> {
  const editor = page.getByRole('textbox', { name: label, exact: true });
  await editor.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  // insertText is one input event: no auto-closed brackets or auto-indent interfere.
  await page.keyboard.insertText(text);
}

/** The text of a CodeMirror editor (its lines joined). */
export async function editorText(editor: Locator): Promise<string> {
  const lines = await editor.locator('.cm-line').allInnerTexts();
  return lines.join('\n');
}
