// Part of the Node.js guest prelude (see bootstrap.js): setTimeout, setInterval, setImmediate, their
// clear*, queueMicrotask. Timers belong to the invocation pending when they are set and are driven by
// the host through `wake` (bootstrap.js, "Timers"); `hooks.current()` is that invocation's id (null
// when none is pending), `hooks.fail(id, error)` ends it with an exception a timer threw.
/* exported installTimers */

/** Puts the timer globals on the context (before any user code) and answers what the bootstrap drives them with. */
function installTimers(hooks) {
  // At most this many timers may be pending in one invocation: each is memory of the context, and
  // each due one a call from the host.
  const MAX_TIMERS = 1000;
  // And at most this many set in all: each may wake the host, which must not be flooded by a loop
  // of setTimeout/clearTimeout.
  const MAX_TIMERS_SET = 100000;
  let timersSet = 0;
  // id -> { due, fn, args, delay, repeat }; a null-prototype object, so that no
  // method a script can replace (Map.prototype.get...) is on the path.
  let timers = objectCreate(null);
  let timerCount = 0;
  let nextTimerId = 1;
  // The host's wake-up (set by `load`), and the earliest due time it was asked to wake for.
  let wake = null;
  let armedDue = Infinity;

  function arm(due) {
    const id = hooks.current();
    if (wake === null || id === null || due >= armedDue) return;
    armedDue = due;
    reflectApply(wake, undefined, [id, mathMax(0, due - dateNow())]);
  }

  function earliestDue() {
    let due = Infinity;
    for (const key in timers) if (timers[key].due < due) due = timers[key].due;
    return due;
  }
  const timeoutPrototype = objectCreate(null);

  function addTimer(fn, delay, args, repeat) {
    if (hooks.current() === null) throw new ErrorCtor('timers run only while the function runs: set them in the handler, not at the top level of the module');
    if (typeof fn !== 'function') throw new TypeErrorCtor('the timer callback must be a function');
    if (timerCount >= MAX_TIMERS) throw new RangeErrorCtor(`more than ${MAX_TIMERS} timers pending in one invocation`);
    if (timersSet >= MAX_TIMERS_SET) throw new RangeErrorCtor(`more than ${MAX_TIMERS_SET} timers set in one invocation`);
    timersSet += 1;
    // As Node.js: a delay that is not a number is 0, one beyond 32 bits is 1.
    const asked = mathMax(0, NumberCtor(delay) || 0);
    const ms = asked > 2147483647 ? 1 : asked;
    const id = nextTimerId++;
    const due = dateNow() + ms;
    // An interval of 0 would fire on every wake-up: it repeats at 1 ms at the least.
    timers[id] = { due, fn, args, delay: repeat ? mathMax(1, ms) : ms, repeat };
    timerCount += 1;
    arm(due);
    // Node.js hands out a Timeout object (ref/unref/hasRef/refresh); a number where it is used as one.
    const handle = objectCreate(timeoutPrototype);
    defineProperty(handle, 'id', { value: id, enumerable: false });
    return handle;
  }

  function timerId(handle) {
    return handle !== null && typeof handle === 'object' && typeof handle.id === 'number' ? handle.id : NumberCtor(handle);
  }

  function clearTimer(handle) {
    const id = timerId(handle);
    if (timers[id] === undefined) return;
    delete timers[id];
    timerCount -= 1;
  }

  /** Cancels every pending timer; answers how many there were. */
  function cancelTimers() {
    const cancelled = timerCount;
    timers = objectCreate(null);
    timerCount = 0;
    timersSet = 0;
    armedDue = Infinity;
    return cancelled;
  }

  function fire(id) {
    if (hooks.current() !== id) return;
    // The host's wake-up for the earliest timer has come: a later one needs a new one.
    armedDue = Infinity;
    const now = dateNow();
    const ready = [];
    for (const key in timers) if (timers[key].due <= now) ready[ready.length] = NumberCtor(key);
    reflectApply(arraySort, ready, [(a, b) => timers[a].due - timers[b].due || a - b]);
    for (let i = 0; i < ready.length; i++) {
      const timer = timers[ready[i]];
      // Cleared by a callback before it, or the invocation ended.
      if (timer === undefined || hooks.current() !== id) continue;
      if (timer.repeat) timer.due = now + timer.delay;
      else clearTimer(ready[i]);
      try {
        reflectApply(timer.fn, undefined, timer.args);
      } catch (error) {
        // An exception nobody catches in a timer ends the invocation with it, as it would end a Node.js process.
        hooks.fail(id, error);
      }
    }
    if (timerCount > 0) arm(earliestDue());
  }

  defineProperty(timeoutPrototype, 'ref', { value() { return this; } });
  defineProperty(timeoutPrototype, 'unref', { value() { return this; } });
  defineProperty(timeoutPrototype, 'hasRef', { value() { return true; } });
  defineProperty(timeoutPrototype, 'refresh', {
    value() {
      // As Node.js: the timer starts over with its own delay.
      const timer = timers[this.id];
      if (timer !== undefined) {
        timer.due = dateNow() + timer.delay;
        arm(timer.due);
      }
      return this;
    },
  });
  defineProperty(timeoutPrototype, Symbol.toPrimitive, { value() { return this.id; } });
  const timerGlobals = {
    setTimeout: (fn, delay, ...args) => addTimer(fn, delay, args, false),
    setInterval: (fn, delay, ...args) => addTimer(fn, delay, args, true),
    setImmediate: (fn, ...args) => addTimer(fn, 0, args, false),
    clearTimeout: clearTimer,
    clearInterval: clearTimer,
    clearImmediate: clearTimer,
    queueMicrotask(fn) {
      if (typeof fn !== 'function') throw new TypeErrorCtor('the microtask must be a function');
      const owner = hooks.current();
      reflectApply(promiseThen, promiseResolve(undefined), [
        () => {
          try {
            fn();
          } catch (error) {
            if (owner !== null) hooks.fail(owner, error);
          }
        },
      ]);
    },
  };
  for (const name in timerGlobals) defineProperty(globalThis, name, { value: timerGlobals[name], writable: true, configurable: true, enumerable: false });

  return {
    fire,
    cancel: cancelTimers,
    setWake(callback) {
      wake = callback;
    },
  };
}
