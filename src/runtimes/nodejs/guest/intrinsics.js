// Part of the Node.js guest prelude (see bootstrap.js), run first: the built-ins every part uses,
// captured before any user code runs, and the prelude's constants.
/* exported jsonParse, jsonStringify, PromiseCtor, promiseResolve, promiseThen, reflectApply, StringCtor, isFiniteNumber, stringSlice, stringSplit, stringIndexOf, stringReplace, charCodeAt, arrayJoin, regExpExec, ErrorCtor, TypeErrorCtor, RangeErrorCtor, NumberCtor, objectCreate, defineProperty, dateNow, arraySort, mathMax, USER_FILE, BOOTSTRAP_FILE, MAX_ERROR_MESSAGE, MAX_ERROR_STACK */

// Intrinsics are captured before user code runs: a script may replace JSON.stringify or
// Array.prototype.push in its own context, and that must not break (or fake) the protocol.
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const PromiseCtor = Promise;
const promiseResolve = Promise.resolve.bind(Promise);
const promiseThen = Promise.prototype.then;
const reflectApply = Reflect.apply;
const StringCtor = String;
const isFiniteNumber = Number.isFinite;
const stringSlice = String.prototype.slice;
const stringSplit = String.prototype.split;
const stringIndexOf = String.prototype.indexOf;
const stringReplace = String.prototype.replace;
const charCodeAt = String.prototype.charCodeAt;
const arrayJoin = Array.prototype.join;
const regExpExec = RegExp.prototype.exec;
const ErrorCtor = Error;
const TypeErrorCtor = TypeError;
const RangeErrorCtor = RangeError;
const NumberCtor = Number;
const objectCreate = Object.create;
const defineProperty = Object.defineProperty;
const dateNow = Date.now;
const arraySort = Array.prototype.sort;
const mathMax = Math.max;

const USER_FILE = 'script.js';
const BOOTSTRAP_FILE = 'lambda-bootstrap.js';
const MAX_ERROR_MESSAGE = 8192;
const MAX_ERROR_STACK = 16384;
