// The Node.js guest's platform (see index.js): what it asks the host for. Two functions, given to
// the context by `load` (guest/bootstrap.js) as isolated-vm Callbacks that take and return numbers
// and strings only: randomness from the host's CSPRNG, and a monotonic clock. Nothing else of the
// host is reachable from here.

/** Random bytes are fetched this many at a time and handed out once each. */
const POOL_BYTES = 4096;

// Captured when the prelude runs (this module is evaluated with it, before any user code): a script
// that replaces Uint8Array.prototype.subarray or Math.max must not reach the pool of host bytes.
const apply = Reflect.apply;
const NativeUint8Array = Uint8Array;
const { subarray, set, fill } = Uint8Array.prototype;
const lengthOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length').get;
const charCodeAt = String.prototype.charCodeAt;
const mathMax = Math.max;
const mathMin = Math.min;

let randomSource = null;
let clockSource = null;
let pool = new Uint8Array(0);
let poolOffset = 0;

/** Set once, by `load`, before any user code runs. */
export function connectHost(random, clock) {
  randomSource = typeof random === 'function' ? random : null;
  clockSource = typeof clock === 'function' ? clock : null;
}

function refill(size) {
  if (randomSource === null) throw new Error('randomness is not available here');
  // The host answers `size` bytes as a latin1 string (one character per byte).
  const text = randomSource(size);
  if (typeof text !== 'string' || text.length !== size) throw new Error('the host gave no randomness');
  const bytes = new NativeUint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = apply(charCodeAt, text, [i]);
  return bytes;
}

/** Fills `target` (a Uint8Array view) with bytes of the host's CSPRNG, never handing out a byte twice. */
export function fillRandom(target) {
  const length = apply(lengthOf, target, []);
  let written = 0;
  while (written < length) {
    if (poolOffset >= pool.length) {
      pool = refill(mathMax(POOL_BYTES, mathMin(length - written, 65536)));
      poolOffset = 0;
    }
    const take = mathMin(pool.length - poolOffset, length - written);
    apply(set, target, [apply(subarray, pool, [poolOffset, poolOffset + take]), written]);
    // Handed-out bytes are wiped from the pool.
    apply(fill, pool, [0, poolOffset, poolOffset + take]);
    poolOffset += take;
    written += take;
  }
  return target;
}

/** Milliseconds since the context's time origin, from the host's monotonic clock. */
export function monotonicNow() {
  if (clockSource === null) return 0;
  const value = clockSource();
  return typeof value === 'number' ? value : 0;
}
