import assert from 'node:assert/strict';

/** Polls `check` every 20 ms until it holds; fails naming `what` after `timeoutMs`. Never a sleep-as-assertion. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
