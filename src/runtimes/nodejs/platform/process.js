// The Node.js guest's platform (see index.js): the `process` of a sandbox, for the code that looks
// at it (`process.env.NODE_ENV`, `process.nextTick`): given to npm packages by the bundler and to
// `require('process')`, never a global. No environment, no arguments, no exit; nothing of the host.

import { monotonicNow } from './host.js';

function hrtime(previous) {
  const ns = Math.round(monotonicNow() * 1e6);
  let seconds = Math.floor(ns / 1e9);
  let nanos = ns % 1e9;
  if (Array.isArray(previous)) {
    seconds -= previous[0];
    nanos -= previous[1];
    if (nanos < 0) {
      seconds -= 1;
      nanos += 1e9;
    }
  }
  return [seconds, nanos];
}
hrtime.bigint = () => BigInt(Math.round(monotonicNow() * 1e6));

const env = Object.create(null);
env.NODE_ENV = 'production';

function nextTick(fn, ...args) {
  queueMicrotask(() => fn(...args));
}

export const process = {
  env,
  argv: ['node', 'script.js'],
  execArgv: [],
  platform: 'linux',
  arch: 'x64',
  pid: 1,
  title: 'lambda-sandbox',
  browser: false,
  // The versions the sandbox imitates (GET /api/v1/runtimes says which Node.js it runs).
  version: LAMBDA_NODE_VERSION,
  versions: { node: LAMBDA_NODE_VERSION.slice(1) },
  nextTick,
  cwd: () => '/',
  umask: () => 0o22,
  uptime: () => monotonicNow() / 1000,
  hrtime,
  emitWarning: () => undefined,
  on: () => process,
  once: () => process,
  off: () => process,
  removeListener: () => process,
  listeners: () => [],
  emit: () => false,
  exit: (code) => {
    throw new Error(`process.exit(${code === undefined ? '' : String(code)}) is not available in the sandbox: return from the handler instead`);
  },
};
