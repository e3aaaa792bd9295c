import type { ContractFixtures, LanguageCase } from './contract.js';

/** Timers and the job queue (issue 14, point 1). */
const TIMERS: LanguageCase[] = [
  { name: 'the callback form with setTimeout, as everyday Lambda code does', source: 'module.exports = (event, callback) => { setTimeout(() => callback(null, event.params.n + 1), 5); };', params: { n: 1 }, result: 2 },
  {
    name: 'awaited timers, in order, after at least their delay',
    source: 'const order = [];\nconst started = Date.now();\nsetTimeout(() => order.push("b"), 20);\nsetTimeout(() => order.push("a"), 5);\nawait new Promise((r) => setTimeout(r, 40));\nreturn { order, waited: Date.now() - started >= 40 };',
    result: { order: ['a', 'b'], waited: true },
  },
  {
    name: 'setInterval until cleared, setImmediate after the microtasks, queueMicrotask before both',
    source: 'const seen = [];\nsetImmediate((tag) => seen.push(tag), "immediate");\nqueueMicrotask(() => seen.push("microtask"));\nawait new Promise((resolve) => { let n = 0; const t = setInterval(() => { seen.push("tick" + ++n); if (n === 3) { clearInterval(t); resolve(); } }, 2); });\nreturn seen;',
    result: ['microtask', 'immediate', 'tick1', 'tick2', 'tick3'],
  },
];

/** Web platform globals (point 2), after WinterTC's Minimum Common Web Platform API. */
const WEB: LanguageCase[] = [
  {
    name: 'URL and URLSearchParams',
    source: 'const u = new URL("/a/b?x=1&y=two#h", "https://User@Example.COM:8443");\nu.searchParams.append("z", "a b");\nreturn [u.href, u.hostname, u.port, u.searchParams.get("y"), new URLSearchParams({ q: "1+1" }).toString(), new URL("https://bücher.de").host, URL.canParse?.("nope") ?? false];',
    result: ['https://User@example.com:8443/a/b?x=1&y=two&z=a+b#h', 'example.com', '8443', 'two', 'q=1%2B1', 'xn--bcher-kva.de', false],
  },
  {
    name: 'TextEncoder and TextDecoder (UTF-8, streaming, fatal)',
    source: 'const bytes = new TextEncoder().encode("héllo €");\nconst d = new TextDecoder();\nconst split = d.decode(bytes.subarray(0, 8), { stream: true }) + d.decode(bytes.subarray(8));\nlet fatal = "none";\ntry { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.name; }\nreturn [bytes.length, split, fatal, new TextEncoder().encodeInto("ab", new Uint8Array(1))];',
    result: [10, 'héllo €', 'TypeError', { read: 1, written: 1 }],
  },
  {
    name: 'atob, btoa and structuredClone',
    source: 'let bad = "";\ntry { btoa("€"); } catch (e) { bad = e.name; }\nconst original = { when: new Date(0), tags: new Set(["a"]), nested: new Map([[1, { deep: [1, 2] }]]) };\nconst copy = structuredClone(original);\nreturn [btoa("hello"), atob("aGVsbG8="), bad, copy.when instanceof Date, copy.tags.has("a"), copy.nested.get(1).deep, copy !== original && copy.nested !== original.nested];',
    result: ['aGVsbG8=', 'hello', 'InvalidCharacterError', true, true, [1, 2], true],
  },
  {
    name: 'crypto.getRandomValues, randomUUID and subtle.digest (SHA-1/256/384/512)',
    source: 'const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");\nconst data = new TextEncoder().encode("abc");\nconst digests = [];\nfor (const alg of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"]) digests.push(hex(await crypto.subtle.digest(alg, data)).slice(0, 16));\nconst values = crypto.getRandomValues(new Uint32Array(4));\nreturn [digests, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()), values.length, new Set(values).size > 1];',
    result: [['a9993e364706816a', 'ba7816bf8f01cfea', 'cb00753f45a35e8b', 'ddaf35a193617aba'], true, 4, true],
  },
  {
    name: 'AbortController, AbortSignal, Event and EventTarget',
    source: 'const target = new EventTarget();\nconst seen = [];\ntarget.addEventListener("ping", (e) => seen.push(e.type), { once: true });\ntarget.dispatchEvent(new Event("ping"));\ntarget.dispatchEvent(new Event("ping"));\nconst controller = new AbortController();\ncontroller.signal.onabort = () => seen.push("aborted");\ncontroller.abort();\nlet thrown = "";\ntry { controller.signal.throwIfAborted(); } catch (e) { thrown = e.name; }\nconst timedOut = await new Promise((resolve) => AbortSignal.timeout(5).addEventListener("abort", (e) => resolve(e.target.reason.name)));\nreturn [seen, controller.signal.aborted, thrown, timedOut, AbortSignal.abort("why").reason];',
    result: [['ping', 'aborted'], true, 'AbortError', 'TimeoutError', 'why'],
  },
  {
    name: 'performance.now and Headers',
    source: 'const t0 = performance.now();\nawait new Promise((r) => setTimeout(r, 15));\nconst h = new Headers({ "Content-Type": "text/plain" });\nh.append("x-a", "1");\nh.append("X-A", "2");\nreturn [performance.now() - t0 >= 10, typeof performance.timeOrigin, h.get("content-type"), h.get("x-a"), [...h.keys()]];',
    result: [true, 'number', 'text/plain', '1, 2', ['content-type', 'x-a']],
  },
];

/** Node.js built-ins through require (point 3), with or without `node:`. */
const BUILTINS: LanguageCase[] = [
  {
    name: 'buffer (and the Buffer global), util, events, path',
    source: 'const { Buffer: B } = require("node:buffer");\nconst util = require("util");\nconst EventEmitter = require("events");\nconst path = require("node:path");\nconst e = new EventEmitter();\nlet got;\ne.once("x", (v) => { got = v; });\ne.emit("x", 7);\nconst sleep = util.promisify((ms, cb) => setTimeout(() => cb(null, ms), ms));\nreturn [B === Buffer, Buffer.from("hi").toString("base64"), Buffer.concat([Buffer.from([1]), Buffer.alloc(1)]).length, util.format("%s:%d", "a", 1), util.inspect({ a: [1] }), got, path.join("/a/b", "../c"), path.extname("x.tar.gz"), await sleep(3), util.types.isPromise(Promise.resolve())];',
    result: [true, 'aGk=', 2, 'a:1', '{ a: [ 1 ] }', 7, '/a/c', '.gz', 3, true],
  },
  {
    name: 'url, querystring, string_decoder, assert, timers/promises',
    source: 'const url = require("url");\nconst qs = require("node:querystring");\nconst { StringDecoder } = require("string_decoder");\nconst assert = require("assert");\nconst { setTimeout: sleep } = require("node:timers/promises");\nlet failed = "";\ntry { assert.deepStrictEqual({ a: 1 }, { a: 2 }); } catch (e) { failed = e.code; }\nconst d = new StringDecoder("utf8");\nreturn [url.parse("http://h.com:81/p?q=1").port, new url.URL("http://h.com/x").pathname, qs.parse("a=1&b=2&b=3"), d.write(Buffer.from([0xe2, 0x82])) + d.end(Buffer.from([0xac])), failed, await sleep(2, "slept")];',
    result: ['81', '/x', { a: '1', b: ['2', '3'] }, '€', 'ERR_ASSERTION', 'slept'],
  },
  {
    name: 'crypto: createHash, createHmac, randomBytes, randomUUID, timingSafeEqual',
    source: 'const crypto = require("node:crypto");\nreturn [crypto.createHash("sha256").update("abc").digest("hex").slice(0, 16), crypto.createHash("md5").update("a").update("bc").digest("base64"), crypto.createHmac("sha256", "key").update("The quick brown fox jumps over the lazy dog").digest("hex").slice(0, 16), crypto.randomBytes(16).length, crypto.randomUUID().length, crypto.timingSafeEqual(Buffer.from("ab"), Buffer.from("ab")), crypto.getHashes().includes("sha512")];',
    result: ['ba7816bf8f01cfea', 'kAFQmDzST7DWlj99KOF/cg==', 'f7bc83f430538424', 16, 36, true, true],
  },
];

/** The Node.js scripts of the shared runtime contract, for the in-process and the gRPC runs. */
export const nodejsFixtures: ContractFixtures = {
  sum: 'return event.params.a + event.params.b;',
  echo: 'module.exports = async (event) => event.params;',
  throws: { source: 'const x = 1;\nthrow new Error("boom");', name: 'Error', line: 2 },
  logsTwoLines: { source: 'console.log("first line");\nconsole.log("second line");\nreturn true;', lines: ['first line', 'second line'] },
  infiniteLoop: 'for (;;) {}',
  memoryBomb: 'const hoard = [];\nfor (;;) hoard.push(new Array(100000).fill(1.5));',
  syntaxError: { source: 'const a = 1;\nconst b = ;\nreturn a;', line: 2 },
  nonJsonResult: { source: 'return 10n;', message: /not JSON-serialisable/ },
  counter: 'let calls = 0;\nmodule.exports = async () => {\n  calls += 1;\n  return calls;\n};',
  cases: [...TIMERS, ...WEB, ...BUILTINS],
};
