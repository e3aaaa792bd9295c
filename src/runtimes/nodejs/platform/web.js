// The Node.js guest's platform (see index.js): the web platform globals that are not a library of
// their own: DOMException, TextEncoder/TextDecoder, atob/btoa, AbortController/AbortSignal,
// performance, structuredClone and the Web Crypto API (`crypto`), on well-kept implementations
// (buffer, string_decoder, base-64, event-target-shim, @ungap/structured-clone, @noble/hashes).
import { Buffer } from 'buffer';
import { StringDecoder } from 'string_decoder';
import base64 from 'base-64';
import { Event, EventTarget } from 'event-target-shim';
import { serialize, deserialize } from '@ungap/structured-clone';

import { fillRandom, monotonicNow } from './host.js';
import { digest } from './hashes.js';

const DOM_CODES = { IndexSizeError: 1, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12, InvalidCharacterError: 5, AbortError: 20, QuotaExceededError: 22, TimeoutError: 23, DataCloneError: 25 };

export class DOMException extends Error {
  #name;
  constructor(message = '', name = 'Error') {
    super(String(message));
    this.#name = String(name);
  }
  get name() {
    return this.#name;
  }
  get code() {
    return DOM_CODES[this.#name] ?? 0;
  }
}

// ---- Encoding ---------------------------------------------------------------------------------
function asBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('The "input" argument must be an ArrayBuffer or an ArrayBufferView');
}

export class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(input = '') {
    const bytes = Buffer.from(String(input), 'utf8');
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  encodeInto(source, destination) {
    const text = String(source);
    let read = 0;
    let written = 0;
    for (const char of text) {
      const bytes = Buffer.from(char, 'utf8');
      if (written + bytes.length > destination.length) break;
      destination.set(bytes, written);
      written += bytes.length;
      read += char.length;
    }
    return { read, written };
  }
}

const DECODER_LABELS = { 'utf-8': 'utf8', utf8: 'utf8', 'unicode-1-1-utf-8': 'utf8', 'utf-16le': 'utf16le', 'utf-16': 'utf16le', latin1: 'latin1', 'iso-8859-1': 'latin1', 'us-ascii': 'latin1', ascii: 'latin1', 'windows-1252': 'latin1' };
const ENCODING_NAMES = { utf8: 'utf-8', utf16le: 'utf-16le', latin1: 'windows-1252' };

export class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #decoder = null;
  #bomSeen = false;
  constructor(label = 'utf-8', options = {}) {
    const encoding = DECODER_LABELS[String(label).trim().toLowerCase()];
    if (encoding === undefined) throw new RangeError(`The "${String(label)}" encoding is not supported`);
    this.#encoding = encoding;
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
  }
  get encoding() {
    return ENCODING_NAMES[this.#encoding];
  }
  get fatal() {
    return this.#fatal;
  }
  get ignoreBOM() {
    return this.#ignoreBOM;
  }
  decode(input, options = {}) {
    const bytes = asBytes(input);
    const stream = Boolean(options?.stream);
    this.#decoder ??= new StringDecoder(this.#encoding);
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let text = stream ? this.#decoder.write(buffer) : this.#decoder.write(buffer) + this.#decoder.end();
    if (this.#fatal && this.#encoding === 'utf8' && text.includes('\uFFFD') && !stream && !Buffer.from(text, 'utf8').equals(buffer)) {
      this.#reset();
      throw new TypeError('The encoded data was not valid for encoding utf-8');
    }
    if (!this.#bomSeen && text.length > 0) {
      this.#bomSeen = true;
      if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!stream) this.#reset();
    return text;
  }
  #reset() {
    this.#decoder = null;
    this.#bomSeen = false;
  }
}

export function btoa(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified');
  try {
    return base64.encode(String(data));
  } catch {
    throw new DOMException('Invalid character', 'InvalidCharacterError');
  }
}

export function atob(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified');
  try {
    return base64.decode(String(data));
  } catch {
    throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
  }
}

// ---- Aborting ---------------------------------------------------------------------------------
const ABORT_KEY = Symbol('abort');

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #onabort = null;
  constructor(key) {
    if (key !== ABORT_KEY) throw new TypeError('Illegal constructor');
    super();
  }
  get aborted() {
    return this.#aborted;
  }
  get reason() {
    return this.#reason;
  }
  get onabort() {
    return this.#onabort;
  }
  set onabort(listener) {
    if (this.#onabort) this.removeEventListener('abort', this.#onabort);
    this.#onabort = typeof listener === 'function' ? listener : null;
    if (this.#onabort) this.addEventListener('abort', this.#onabort);
  }
  throwIfAborted() {
    if (this.#aborted) throw this.#reason;
  }
  [ABORT_KEY](reason) {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.dispatchEvent(new Event('abort'));
  }
  static abort(reason) {
    const signal = new AbortSignal(ABORT_KEY);
    signal[ABORT_KEY](reason);
    return signal;
  }
  static timeout(ms) {
    const signal = new AbortSignal(ABORT_KEY);
    setTimeout(() => signal[ABORT_KEY](new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
    return signal;
  }
  static any(signals) {
    const signal = new AbortSignal(ABORT_KEY);
    for (const source of signals) {
      if (source.aborted) {
        signal[ABORT_KEY](source.reason);
        return signal;
      }
    }
    for (const source of signals) source.addEventListener('abort', () => signal[ABORT_KEY](source.reason), { once: true });
    return signal;
  }
}

export class AbortController {
  #signal = new AbortSignal(ABORT_KEY);
  get signal() {
    return this.#signal;
  }
  abort(reason) {
    this.#signal[ABORT_KEY](reason);
  }
}

// ---- Time -------------------------------------------------------------------------------------
const timeOrigin = Date.now();

export const performance = {
  timeOrigin,
  now: () => monotonicNow(),
  toJSON: () => ({ timeOrigin }),
};

// ---- structuredClone --------------------------------------------------------------------------
export function structuredClone(value, options) {
  if (arguments.length === 0) throw new TypeError('The "value" argument must be specified');
  try {
    return deserialize(serialize(value, options));
  } catch (error) {
    throw new DOMException(error instanceof Error ? error.message : String(error), 'DataCloneError');
  }
}

// ---- Web Crypto -------------------------------------------------------------------------------
const INTEGER_ARRAYS = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

export function getRandomValues(array) {
  const kind = ArrayBuffer.isView(array) ? Object.prototype.toString.call(array).slice(8, -1) : '';
  if (!INTEGER_ARRAYS.includes(kind)) throw new DOMException('The data argument must be an integer-type TypedArray', 'TypeMismatchError');
  if (array.byteLength > 65536) throw new DOMException(`The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, 'QuotaExceededError');
  fillRandom(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return array;
}

export function randomUUID() {
  const bytes = fillRandom(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const SUBTLE_DIGESTS = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

function notSupported(name) {
  return () => Promise.reject(new DOMException(`crypto.subtle.${name} is not available in the sandbox (crypto.subtle.digest is)`, 'NotSupportedError'));
}

export const subtle = {
  digest(algorithm, data) {
    try {
      const name = typeof algorithm === 'string' ? algorithm : algorithm?.name;
      const hash = SUBTLE_DIGESTS[String(name).toUpperCase()];
      if (hash === undefined) throw new DOMException(`Unrecognized algorithm name: ${String(name)}`, 'NotSupportedError');
      const out = digest(hash, asBytes(data));
      return Promise.resolve(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
    } catch (error) {
      return Promise.reject(error);
    }
  },
  encrypt: notSupported('encrypt'),
  decrypt: notSupported('decrypt'),
  sign: notSupported('sign'),
  verify: notSupported('verify'),
  generateKey: notSupported('generateKey'),
  importKey: notSupported('importKey'),
  exportKey: notSupported('exportKey'),
  deriveKey: notSupported('deriveKey'),
  deriveBits: notSupported('deriveBits'),
  wrapKey: notSupported('wrapKey'),
  unwrapKey: notSupported('unwrapKey'),
};

export const crypto = { getRandomValues, randomUUID, subtle };
