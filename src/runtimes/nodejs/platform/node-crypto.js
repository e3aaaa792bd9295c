// The Node.js guest's platform (see index.js): the `crypto` module's commonly used part. Hashes and
// HMACs are @noble/hashes; random numbers come from the host's CSPRNG (host.js), never Math.random.
import { Buffer } from 'buffer';

import { fillRandom } from './host.js';
import { hashFunction, hashNames, hmac, pbkdf2 } from './hashes.js';
import { crypto as webcrypto, getRandomValues, randomUUID, subtle } from './web.js';

function toBytes(data, encoding, what = 'data') {
  if (typeof data === 'string') return Buffer.from(data, encoding ?? 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`The "${what}" argument must be of type string or an instance of Buffer, TypedArray, or DataView`);
}

function output(bytes, encoding) {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return encoding === undefined || encoding === 'buffer' ? buffer : buffer.toString(encoding);
}

function unsupported(algorithm) {
  const error = new Error(`Digest method not supported: ${String(algorithm)} (available: ${hashNames().join(', ')})`);
  error.code = 'ERR_CRYPTO_INVALID_DIGEST';
  return error;
}

class Digest {
  #state;
  #done = false;
  constructor(state) {
    this.#state = state;
  }
  update(data, inputEncoding) {
    if (this.#done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
    this.#state.update(toBytes(data, inputEncoding));
    return this;
  }
  digest(encoding) {
    if (this.#done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
    this.#done = true;
    return output(this.#state.digest(), encoding);
  }
  copy() {
    return new this.constructor(this.#state.clone());
  }
}

export class Hash extends Digest {}
export class Hmac extends Digest {}

export function createHash(algorithm) {
  const hash = hashFunction(algorithm);
  if (hash === undefined) throw unsupported(algorithm);
  return new Hash(hash.create());
}

export function createHmac(algorithm, key, _options) {
  const hash = hashFunction(algorithm);
  if (hash === undefined) throw unsupported(algorithm);
  return new Hmac(hmac.create(hash, toBytes(key, undefined, 'key')));
}

export function hash(algorithm, data, outputEncoding = 'hex') {
  return createHash(algorithm).update(data).digest(outputEncoding);
}

export function getHashes() {
  return hashNames();
}

export function pbkdf2Sync(password, salt, iterations, keylen, digest) {
  const hashFn = hashFunction(digest);
  if (hashFn === undefined) throw unsupported(digest);
  return output(pbkdf2(hashFn, toBytes(password, undefined, 'password'), toBytes(salt, undefined, 'salt'), { c: iterations, dkLen: keylen }));
}

const MAX_RANDOM_BYTES = 2 ** 31 - 1;

export function randomBytes(size, callback) {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > MAX_RANDOM_BYTES) {
    throw new RangeError(`The value of "size" is out of range. It must be >= 0 && <= ${MAX_RANDOM_BYTES}. Received ${String(size)}`);
  }
  const bytes = Buffer.alloc(size);
  fillRandom(bytes);
  if (typeof callback === 'function') {
    queueMicrotask(() => callback(null, bytes));
    return undefined;
  }
  return bytes;
}

export function randomFillSync(target, offset = 0, size) {
  const view = toBytes(target, undefined, 'buf');
  const end = size === undefined ? view.length : offset + size;
  fillRandom(view.subarray(offset, end));
  return target;
}

export function randomInt(min, max, callback) {
  if (max === undefined || typeof max === 'function') {
    callback = max;
    max = min;
    min = 0;
  }
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min || max - min > 2 ** 48) {
    throw new RangeError('randomInt needs safe integers min < max, at most 2 ** 48 apart');
  }
  const range = max - min;
  // Rejection sampling over 48 random bits: no modulo bias.
  const limit = 2 ** 48 - (2 ** 48 % range);
  let value;
  do {
    const bytes = fillRandom(new Uint8Array(6));
    value = bytes.reduce((sum, byte) => sum * 256 + byte, 0);
  } while (value >= limit);
  const result = min + (value % range);
  if (typeof callback === 'function') {
    queueMicrotask(() => callback(null, result));
    return undefined;
  }
  return result;
}

export function timingSafeEqual(a, b) {
  const left = toBytes(a, undefined, 'buf1');
  const right = toBytes(b, undefined, 'buf2');
  if (left.length !== right.length) throw Object.assign(new RangeError('Input buffers must have the same byte length'), { code: 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH' });
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= left[i] ^ right[i];
  return difference === 0;
}

export { getRandomValues, randomUUID, subtle, webcrypto };
