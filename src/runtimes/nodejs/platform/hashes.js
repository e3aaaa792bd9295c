// The Node.js guest's platform (see index.js): the hash functions behind `crypto.createHash`,
// `createHmac` and `crypto.subtle.digest`, from @noble/hashes (audited, no dependencies).
import { sha1, md5, ripemd160 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { sha3_256, sha3_512 } from '@noble/hashes/sha3.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';

const HASHES = { md5, sha1, sha224, sha256, sha384, sha512, 'sha3-256': sha3_256, 'sha3-512': sha3_512, ripemd160, rmd160: ripemd160 };

/** The hash function named as Node.js names it (`sha256`, `SHA256`, `sha-256`), or undefined. */
export function hashFunction(algorithm) {
  const name = String(algorithm).toLowerCase();
  return HASHES[name] ?? HASHES[name.replace(/^sha-/, 'sha')];
}

export function hashNames() {
  return Object.keys(HASHES);
}

export function digest(algorithm, bytes) {
  const hash = hashFunction(algorithm);
  if (hash === undefined) throw new Error(`Digest method not supported: ${String(algorithm)}`);
  return hash(bytes);
}

export { hmac, pbkdf2 };
