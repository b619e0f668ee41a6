import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/**
 * The hash strategy: HMAC-SHA-256 keyed with a secret, so equal inputs give equal
 * outputs under one key (results stay joinable and groupable by the client) while
 * nobody without the key can test a guess (an SSN has only ~10^9 values: an
 * unkeyed hash would be reversed by enumeration).
 *
 * The input is always the value's text form, so a value hashes the same whatever
 * the result format: the text bytes as sent (UTF-8) for character data, the
 * decimal digits for integers, the 8-4-4-4-12 lowercase form for a uuid.
 */

/** 128 bits: shorter keys can be searched for instead of the values. */
export const MIN_HASH_KEY_BYTES = 16;

/** A key that hashKey() checked; a KeyObject also keeps the bytes out of logs. */
export type HashKey = KeyObject & { readonly __brand: 'HashKey' };

/**
 * The key for the hash strategy, made once from the secret's bytes: HMAC with a
 * KeyObject measured six times cheaper than with the same key as a Buffer
 * (1.9 µs against 11.7 µs per 20-byte value).
 */
export function hashKey(secret: Buffer): HashKey {
  if (secret.length < MIN_HASH_KEY_BYTES) {
    throw new RangeError(
      `hash masking key must be at least ${MIN_HASH_KEY_BYTES} bytes, got ${secret.length}`,
    );
  }
  return createSecretKey(secret) as HashKey;
}

const TEXT_PREFIX = 'h:';
/** 64 bits of the digest: a chance collision among a million distinct values is ~3·10^-8. */
const TEXT_DIGEST_BYTES = 8;

function digest(key: HashKey, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Character data → "h:" + 16 lowercase hex digits, e.g. "h:3f9a0c2e51b7d408". */
export function hashText(key: HashKey, data: Buffer | string): string {
  return TEXT_PREFIX + digest(key, data).toString('hex', 0, TEXT_DIGEST_BYTES);
}

/**
 * An integer → a non-negative integer of the same type: the digest's top 15, 31 or
 * 63 bits for int2, int4, int8. Equal values in columns of the same type stay
 * equal; int2 has only 32,768 outputs, so distinct values often collide there.
 */
export function hashInteger(key: HashKey, decimal: string, bytes: 2 | 4 | 8): bigint {
  return digest(key, decimal).readBigUInt64BE(0) >> BigInt(64 - (bytes * 8 - 1));
}

/** A uuid → a version 8 (RFC 9562 "custom") uuid made of the digest's first 16 bytes. */
export function hashUuid(key: HashKey, canonical: string): Buffer {
  const out = digest(key, canonical).subarray(0, 16);
  out[6] = ((out[6] as number) & 0x0f) | 0x80;
  out[8] = ((out[8] as number) & 0x3f) | 0x80;
  return out;
}
