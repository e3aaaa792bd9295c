/**
 * What the Node.js sandbox offers a script besides ECMAScript (src/runtimes/nodejs/platform/, the
 * guest side): the web platform globals, taking the WinterTC Minimum Common Web Platform API as the
 * reference, and the Node.js built-in modules `require` and `import` answer. Read by the platform
 * bundle (esbuild inlines it: nothing of the host here), by the bundler of scripts (which modules
 * stay outside a bundle) and by GET /api/v1/runtimes.
 */
/** The globals the platform adds to every context (ECMAScript's own are there too). */
export const WEB_GLOBALS = [
  'AbortController',
  'AbortSignal',
  'atob',
  'btoa',
  'Buffer',
  'clearImmediate',
  'clearInterval',
  'clearTimeout',
  'console',
  'crypto',
  'DOMException',
  'Event',
  'EventTarget',
  'global',
  'Headers',
  'performance',
  'queueMicrotask',
  'setImmediate',
  'setInterval',
  'setTimeout',
  'structuredClone',
  'TextDecoder',
  'TextEncoder',
  'URL',
  'URLSearchParams',
] as const;

/** The built-in modules a script may require or import, with or without the `node:` prefix. */
export const NODE_BUILTINS = [
  'assert',
  'assert/strict',
  'buffer',
  'console',
  'crypto',
  'events',
  'path',
  'path/posix',
  'process',
  'querystring',
  'string_decoder',
  'timers',
  'timers/promises',
  'url',
  'util',
  'util/types',
] as const;

/** What `crypto` (the module) offers: the hashes createHash and createHmac know, and its functions. */
export const NODE_CRYPTO = {
  hashes: ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-512', 'ripemd160'],
  functions: ['createHash', 'createHmac', 'getHashes', 'getRandomValues', 'hash', 'pbkdf2Sync', 'randomBytes', 'randomFillSync', 'randomInt', 'randomUUID', 'timingSafeEqual', 'webcrypto', 'subtle'],
} as const;
