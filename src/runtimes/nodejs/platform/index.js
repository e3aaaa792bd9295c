// The Node.js guest's platform: the web platform globals and the Node.js built-in modules a script
// gets (the list: ../platform-catalog.ts), inside its own context, on well-kept npm polyfills. It is
// bundled by esbuild (../platform-bundle.ts) into the guest prelude, inside the prelude's closure,
// and runs in every context before any user code; nothing here is a host object: the host is
// reached only through the two callbacks of host.js.
//
// Every global and every module is built on first use (esbuild keeps each bundled module behind a
// function until it is required), so a context that uses none of them pays nothing for them.
import { NODE_BUILTINS } from '../platform-catalog.ts';
import { connectHost } from './host.js';

function define(target, name, value) {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: false });
}

/** The globals web.js exports, built on first use. */
const WEB_JS_GLOBALS = ['TextEncoder', 'TextDecoder', 'DOMException', 'AbortController', 'AbortSignal', 'performance', 'crypto', 'structuredClone', 'atob', 'btoa'];
/** Every global built on first use (the others are there from the start). */
const WARM_GLOBALS = ['URL', 'URLSearchParams', 'Buffer', 'Headers', ...WEB_JS_GLOBALS];

function lazyGlobal(global, name, load) {
  // A polyfill that looks for the global it is loaded for finds none yet.
  let loading = false;
  Object.defineProperty(global, name, {
    configurable: true,
    enumerable: false,
    get() {
      if (loading) return undefined;
      loading = true;
      let value;
      try {
        value = load();
      } finally {
        loading = false;
      }
      define(global, name, value);
      return value;
    },
    set(value) {
      define(global, name, value);
    },
  });
}

/** A module's exports as CommonJS code sees them: a plain object (an ES namespace's `default` would hide it from `import x from`). */
function plain(namespace) {
  const out = {};
  for (const key of Object.keys(namespace)) if (key !== 'default' && key !== '__esModule') out[key] = namespace[key];
  return out;
}

const web = () => require('./web.js');

function timersModule(global) {
  return { setTimeout: global.setTimeout, clearTimeout: global.clearTimeout, setInterval: global.setInterval, clearInterval: global.clearInterval, setImmediate: global.setImmediate, clearImmediate: global.clearImmediate };
}

function timersPromises(global) {
  return {
    setTimeout: (ms, value) => new Promise((resolve) => global.setTimeout(resolve, ms, value)),
    setImmediate: (value) => new Promise((resolve) => global.setImmediate(resolve, value)),
  };
}

function urlModule() {
  const legacy = require('url');
  const { URL, URLSearchParams } = require('whatwg-url');
  const fileURLToPath = (url) => {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    if (parsed.protocol !== 'file:') throw new TypeError('The URL must be of scheme file');
    return decodeURIComponent(parsed.pathname);
  };
  const pathToFileURL = (path) => new URL(`file://${encodeURI(String(path)).replace(/[?#]/g, encodeURIComponent)}`);
  return { parse: legacy.parse, format: legacy.format, resolve: legacy.resolve, resolveObject: legacy.resolveObject, Url: legacy.Url, URL, URLSearchParams, fileURLToPath, pathToFileURL };
}

function utilModule() {
  const util = require('util');
  const { TextEncoder, TextDecoder } = web();
  return { ...util, TextEncoder, TextDecoder };
}

function builtinLoaders(global) {
  return {
    assert: () => require('assert'),
    'assert/strict': () => require('assert').strict,
    buffer: () => require('buffer'),
    console: () => global.console,
    crypto: () => plain(require('./node-crypto.js')),
    events: () => require('events'),
    path: () => require('path-browserify'),
    'path/posix': () => require('path-browserify'),
    process: () => require('./process.js').process,
    querystring: () => require('querystring-es3'),
    string_decoder: () => require('string_decoder'),
    timers: () => timersModule(global),
    'timers/promises': () => timersPromises(global),
    url: urlModule,
    util: utilModule,
    'util/types': () => require('util').types,
  };
}

class SandboxModuleError extends Error {}

function moduleError(message, code) {
  const error = new SandboxModuleError(message);
  error.name = 'Error';
  error.code = code;
  return error;
}

/** Adds the globals to `global` (a context's globalThis); answers `connect` (the host's callbacks) and `require`. */
export function installPlatform(global) {
  lazyGlobal(global, 'URL', () => require('whatwg-url').URL);
  lazyGlobal(global, 'URLSearchParams', () => require('whatwg-url').URLSearchParams);
  lazyGlobal(global, 'Buffer', () => require('buffer').Buffer);
  lazyGlobal(global, 'Headers', () => require('headers-polyfill').Headers);
  // Built now, before the globals are there: event-target-shim derives its classes from a global
  // Event it finds (which would be its own, half-built, if it were lazy).
  const { Event, EventTarget } = require('event-target-shim');
  define(global, 'Event', Event);
  define(global, 'EventTarget', EventTarget);
  for (const name of WEB_JS_GLOBALS) lazyGlobal(global, name, () => web()[name]);

  const loaders = builtinLoaders(global);
  const loaded = Object.create(null);
  const available = NODE_BUILTINS.join(', ');

  /**
   * `require` of a script (and of the bundles of its packages, whose Node.js built-ins stay outside
   * the bundle): a built-in's exports, built once per context. A bundle names the package that
   * required a built-in after a `|` (`fs|got`), so that the error can name it.
   */
  function sandboxRequire(specifier) {
    if (typeof specifier !== 'string') throw new TypeError('The "id" argument must be of type string');
    const bar = specifier.indexOf('|');
    const requested = bar === -1 ? specifier : specifier.slice(0, bar);
    const by = bar === -1 ? '' : ` (required by the package ${JSON.stringify(specifier.slice(bar + 1))})`;
    const name = requested.startsWith('node:') ? requested.slice(5) : requested;
    if (Object.prototype.hasOwnProperty.call(loaders, name)) {
      if (!(name in loaded)) loaded[name] = loaders[name]();
      return loaded[name];
    }
    if (requested.startsWith('node:') || LAMBDA_UNAVAILABLE_BUILTINS.includes(name)) {
      throw moduleError(`the Node.js module "${name}"${by} is not available in the sandbox (no file system, network or processes); available: ${available}`, 'ERR_SANDBOX_MODULE_UNAVAILABLE');
    }
    throw moduleError(`Cannot find module '${requested}'${by}: npm packages must be declared in "dependencies" (and be in the package store); built-in modules: ${available}`, 'MODULE_NOT_FOUND');
  }

  /** Builds every global and built-in (and uses a few): what a code cache made afterwards holds compiled. */
  function warm() {
    let built = 0;
    for (const name of WARM_GLOBALS) if (global[name] !== undefined) built++;
    for (const name of NODE_BUILTINS) if (sandboxRequire(name) !== undefined) built++;
    const { Buffer } = global;
    Buffer.from(Buffer.from('warm', 'utf8').toString('base64'), 'base64').toString('hex');
    new global.URL('https://example.com/a?b=1').searchParams.get('b');
    new global.TextDecoder().decode(new global.TextEncoder().encode('warm'));
    sandboxRequire('crypto').createHash('sha256').update('warm').digest('hex');
    sandboxRequire('util').inspect({ warm: [1] });
    return built;
  }

  return { connect: connectHost, require: sandboxRequire, warm };
}
