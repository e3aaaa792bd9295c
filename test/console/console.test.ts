/**
 * The web console in real headless Chromium against the whole service over a real port, with
 * authentication on (the console and its assets are public; its calls carry the token set in
 * Settings). The tests run in order on one page, as a person would: each leaves what the next
 * reads (the sessions and executions made in the Playground, the function registered).
 * A failing test saves a screenshot under test-results/ and prints its path.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';

import { projectPath } from '../../src/config/paths.js';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startTestService } from '../helpers/service.js';
import { launchChromium, openConsole, setEditorText, withScreenshot, type ConsolePage } from './browser.js';

const SECRET = 'console-test-secret-with-enough-bytes-for-hs256';
const TITLE = 'console_e2e';
const LANGUAGE_TITLE = `nodejs-${TITLE}`;
const FUNCTION_TITLE = 'nodejs-console_triple';

/** The part of a <canvas> the chart test reads (this file is type-checked without the DOM's types). */
interface PaintedCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { data: ArrayLike<number> } } | null;
}

describe('the web console in headless Chromium', { timeout: 120_000 }, () => {
  let db: TestDatabase | undefined;
  let service: RunningService | undefined;
  let browser: Browser | undefined;
  let shown: ConsolePage;
  let page: Page;
  let sessionId = '';

  before(async () => {
    // Only when web/ changed since the last build (pretest builds it too): ≈ 2 s.
    execFileSync(process.execPath, [projectPath('web', 'build.mjs')], { stdio: 'inherit', timeout: 120_000 });
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, AUTH_JWT_SECRET: SECRET, RATE_LIMIT_ENABLED: 'false' });
    const baseUrl = await service.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    shown = await openConsole(browser, baseUrl, '#/settings');
    page = shown.page;
  });
  after(async () => {
    await browser?.close();
    await service?.stop();
    await db?.drop();
  });

  const step = (name: string, body: () => Promise<void>): void => void it(name, () => withScreenshot(page, name, body));

  step('keeps the token from Settings in sessionStorage, shows its scopes, and never puts it in the URL', async () => {
    const token = await new SignJWT({ sub: 'console-tester', scope: 'execute:all read:functions write:functions' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    await page.getByLabel('JWT').fill(token);
    await page.getByRole('button', { name: 'Save token' }).click();
    const scopes = page.getByRole('list', { name: 'Scopes' });
    await scopes.getByText('write:functions', { exact: true }).waitFor();
    assert.deepEqual(await scopes.getByRole('listitem').allInnerTexts(), ['execute:all', 'read:functions', 'write:functions']);
    await page.getByText('console-tester', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Try it' }).click();
    await page.getByText('The service accepted it.').waitFor();
    // (Expressions as strings: this file is type-checked without the DOM's types.)
    assert.equal(await page.evaluate("sessionStorage.getItem('lambda-console.token')"), token);
    assert.ok(!page.url().includes(token.slice(0, 20)), page.url());
  });

  step('runs a Node.js script written in the Playground, shows its result and logs, and runs again on the same session', async () => {
    await page.getByRole('link', { name: 'Playground', exact: true }).click();
    await page.getByLabel('Title', { exact: true }).fill(TITLE);
    await setEditorText(page, 'Script', "console.log('hello from the console');\nreturn { answer: event.params.n * 6 };");
    await setEditorText(page, 'Params', '{"n": 7}');
    await page.getByText('Valid JSON', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.getByText('"answer": 42').waitFor();
    await page.getByRole('region', { name: 'Logs' }).getByText('hello from the console').waitFor();
    assert.equal(await result.locator('[data-cached]').innerText(), 'no');
    const link = page.locator('.session-line a');
    sessionId = await link.innerText();
    assert.match(sessionId, /^[0-9a-f-]{36}$/);

    // Ctrl+Enter (from the params editor) runs again: the same session, now from the result cache.
    await page.getByRole('textbox', { name: 'Params', exact: true }).click();
    await page.keyboard.press('ControlOrMeta+Enter');
    await result.locator('[data-cached="true"]').waitFor();
    await result.getByText('reused', { exact: true }).waitFor();
    assert.equal(await link.innerText(), sessionId);
  });

  step('checks the params as they are typed', async () => {
    await setEditorText(page, 'Params', '{"n": 7,');
    await page.getByText(/^Not valid JSON/).waitFor();
    await setEditorText(page, 'Params', '{"n": 7}');
    await page.getByText('Valid JSON', { exact: true }).waitFor();
  });

  step('marks a Python syntax error on its line, with the message and the diagnostics', async () => {
    await page.getByLabel('Language', { exact: true }).selectOption('lang:python');
    await setEditorText(page, 'Script', 'x = 1\ndef broken(:\n    pass\nresult = x\n');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.getByText('COMPILATION_ERROR').waitFor();
    await result.getByLabel('Stack or diagnostics').getByText('SyntaxError').waitFor();
    const script = page.getByRole('textbox', { name: 'Script', exact: true });
    const marked = script.locator('.cm-line.cm-errorLine');
    await marked.waitFor();
    assert.equal(await marked.count(), 1);
    assert.equal(await marked.getAttribute('data-error-line'), '2');
    assert.match(await marked.innerText(), /def broken\(:/);
    assert.match((await marked.getAttribute('title')) ?? '', /SyntaxError/);
    await marked.locator('.cm-lintRange-error').waitFor();
    // The message is the editor's description, for a screen reader too.
    assert.equal(await script.getAttribute('aria-describedby'), 'script-problem');
    assert.match(await page.locator('#script-problem').innerText(), /^Line 2, column \d+: COMPILATION_ERROR: SyntaxError/);
    // Editing the script clears the mark.
    await setEditorText(page, 'Script', 'result = 1\n');
    await script.locator('.cm-errorLine').waitFor({ state: 'detached' });
  });

  step('shows markup in a result or a log as text, and runs none of it', async () => {
    await page.getByLabel('Language', { exact: true }).selectOption('lang:nodejs');
    const markup = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script><b>bold</b>';
    await setEditorText(page, 'Script', `console.log(${JSON.stringify(markup)});\nreturn { html: ${JSON.stringify(markup)} };`);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.getByText('<img src=x onerror=', { exact: false }).waitFor();
    await page.getByRole('region', { name: 'Logs' }).getByText(markup, { exact: true }).waitFor();
    assert.equal(await page.locator('main img, main b, main script').count(), 0, 'no element was made from the markup');
    assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined');
  });

  step('registers a function, runs its example in one click, and finds it in the catalog', async () => {
    await page.getByRole('link', { name: 'Functions', exact: true }).click();
    await page.getByRole('link', { name: 'Register a function' }).click();
    await page.getByLabel('Language-Title').fill(FUNCTION_TITLE);
    await page.getByLabel('Description').fill('triples n (registered from the console)');
    await setEditorText(page, 'Function script', 'return event.params.n * 3;');
    await setEditorText(page, 'Params schema', '{"type":"object","required":["n"],"properties":{"n":{"type":"number"}}}');
    await setEditorText(page, 'Examples', '[{"params":{"n":2},"result":6}]');
    await page.getByLabel(/^Tags/).fill('console, e2e');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByRole('heading', { name: FUNCTION_TITLE, level: 1 }).waitFor();
    await page.getByText('1.0.0', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Run example 1' }).click();
    await page.getByRole('region', { name: 'Example 1 result' }).getByText('as expected').waitFor();

    // A change makes a new version.
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await setEditorText(page, 'Function script', 'return event.params.n * 3 + 0;');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { name: FUNCTION_TITLE, level: 1 }).waitFor();
    await page.getByText('2.0.0', { exact: true }).waitFor();

    await page.getByRole('link', { name: '← Functions' }).click();
    const catalog = page.getByRole('list', { name: 'Catalog' });
    await catalog.getByRole('link', { name: 'nodejs-calculator' }).waitFor();
    await page.getByLabel('Search').fill('triple');
    await catalog.getByRole('link', { name: FUNCTION_TITLE }).waitFor();
    assert.equal(await catalog.getByRole('listitem').filter({ has: page.locator('.card-title') }).count(), 1);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Tag', { exact: true }).selectOption('e2e');
    await page.getByText('1 of ', { exact: false }).waitFor();
    await page.getByLabel('Type', { exact: true }).selectOption('predefined');
    await page.getByText('0 of ', { exact: false }).waitFor();

    // Deleting asks first; then the catalog no longer has it.
    await page.getByLabel('Type', { exact: true }).selectOption('');
    await catalog.getByRole('link', { name: FUNCTION_TITLE }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('heading', { name: 'Functions', level: 1 }).waitFor();
    await catalog.getByRole('link', { name: 'nodejs-calculator' }).waitFor();
    assert.equal(await catalog.getByRole('link', { name: FUNCTION_TITLE }).count(), 0);
  });


  step('lists the sessions and the executions just made', async () => {
    await page.getByRole('link', { name: 'Sessions', exact: true }).click();
    await page.getByRole('table', { name: 'Sessions' }).getByRole('link', { name: sessionId }).click();
    await page.getByRole('heading', { name: `Session ${sessionId}` }).waitFor();
    const rows = page.getByRole('table', { name: 'Executions' }).locator('tbody tr');
    // The request log is written behind the answers: refresh until both executes are in it.
    const deadline = Date.now() + 15_000;
    while ((await rows.count()) < 2) {
      assert.ok(Date.now() < deadline, 'the two executes of the Playground test are listed');
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator('p.hint', { hasText: 'Loading…' }).waitFor({ state: 'detached' });
    }
    assert.equal(await rows.count(), 2);
    const texts = await rows.allInnerTexts();
    assert.ok(texts.every((text) => text.includes('200') && text.includes('"n": 7')), texts.join('\n---\n'));
    // Newest first: the second run came from the cache.
    assert.match(texts[0] ?? '', /\byes\b/);

    await page.getByRole('button', { name: 'Extend by 1 hour' }).click();
    await page.getByRole('status').getByText('Extended by one hour.').waitFor();
    await page.getByRole('button', { name: 'Delete session' }).click();
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
  });

  step('draws the Monitoring charts from the stats API and shows /health with the runtime endpoints', async () => {
    await page.getByRole('link', { name: 'Monitoring', exact: true }).click();
    // It opens on the newest session's function; the field is typed into once that has loaded.
    await page.locator('dl[aria-label^="Totals of "]').waitFor();
    const input = page.getByLabel('Function', { exact: true });
    await input.fill(LANGUAGE_TITLE);
    await input.press('Tab');
    // The Playground ran this Language-Title three times (twice the first script, once the markup one).
    const calls = page.locator(`dl[aria-label="Totals of ${LANGUAGE_TITLE}"] dt:text-is("Calls") + dd`);
    await calls.waitFor();
    assert.ok(Number(await calls.innerText()) >= 3, await calls.innerText());
    for (const title of ['Calls and errors', 'Latency']) {
      const figure = page.getByRole('figure', { name: title });
      const canvas = figure.locator('canvas');
      await canvas.waitFor();
      assert.ok(Number(await figure.getAttribute('data-points')) >= 1);
      // Something was drawn: the canvas has painted pixels.
      const painted = await canvas.evaluate((element) => {
        const c = element as unknown as PaintedCanvas;
        const pixels = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
        let count = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) count++;
        return count;
      });
      assert.ok(painted > 100, `${title}: ${painted} painted pixels`);
    }
    const components = page.getByRole('list', { name: 'Components' });
    await components.getByText('postgres', { exact: false }).first().waitFor();
    await page.getByRole('list', { name: 'runtime nodejs endpoints' }).getByText(/^process:nodejs\/\d+$/).first().waitFor();
  });

  it('had no page error, failed request or Content-Security-Policy violation', () => {
    assert.deepEqual(shown.problems, []);
  });
});
