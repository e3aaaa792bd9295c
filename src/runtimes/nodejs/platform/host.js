// The Node.js guest's platform (see index.js): what it asks the host for. Two functions, given to
// the context by `load` (guest/bootstrap.js) as isolated-vm Callbacks that take and return numbers
// and strings only: randomness from the host's CSPRNG, and a monotonic clock. Nothing else of the
// host is reachable from here.

/** Random bytes are fetched this many at a time and handed out once each. */
const POOL_BYTES = 4096;

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
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Fills `target` (a Uint8Array view) with bytes of the host's CSPRNG, never handing out a byte twice. */
export function fillRandom(target) {
  let written = 0;
  while (written < target.length) {
    if (poolOffset >= pool.length) {
      pool = refill(Math.max(POOL_BYTES, Math.min(target.length - written, 65536)));
      poolOffset = 0;
    }
    const take = Math.min(pool.length - poolOffset, target.length - written);
    target.set(pool.subarray(poolOffset, poolOffset + take), written);
    // Handed-out bytes are wiped from the pool.
    pool.fill(0, poolOffset, poolOffset + take);
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
