/**
 * Loaded into every test process (scripts/run-tests.mjs): a test file whose event loop runs dry
 * ends through `process.exit` instead of Node's own teardown.
 *
 * Why: several test files run isolated-vm in the test process itself (the Node.js runtime, served
 * over gRPC or called directly). When such a process ends by running out of work, Node destroys
 * its main instance (~IsolateData → Heap::DetachCppHeap), which can finish a garbage collection
 * that was in progress; that collection calls isolated-vm's weak callbacks after isolated-vm's
 * environment for the main isolate is gone, and the process aborts with
 * `IsolateEnvironment::GetCurrent(): Assertion 'environment != nullptr' failed` after every test
 * passed (seen 3 in 10 runs of test/integration/runtime-pool under load; backtrace in the issue 12
 * note). The same teardown bug was fixed for worker threads in nodejs/node#51138. `process.exit`
 * skips that teardown, and it is how every process of the service itself ends
 * (src/main/shutdown.ts, runtime-process-main.ts), so tests end the way production does.
 *
 * Only a natural end is redirected (a `beforeExit` was seen), and the listener moves itself to the
 * end of the `exit` listeners first, so every other listener (the test runner's included) still runs.
 */
let ranDry = false;

function exitDirectly(code: number): void {
  if (ranDry) process.exit(code);
}

process.on('exit', exitDirectly);
process.on('beforeExit', () => {
  ranDry = true;
  process.removeListener('exit', exitDirectly);
  process.on('exit', exitDirectly);
});
