/**
 * What masking costs per value: the content detectors on 100-character texts (the
 * price every text value of every result will pay once the relay runs them), and
 * each strategy on one column value. Not a test, because timings depend on the
 * machine. Run after `pnpm exec tsc -b sidecar`:
 *
 *   node sidecar/test/mask/mask-cost.ts
 *
 * It imports the compiled modules because Node's type stripping cannot follow the
 * sources' ".js" import specifiers to ".ts" files.
 */
import { DETECTOR_NAMES, type DetectorName, detect } from '../../dist/mask/detectors/index.js';
import { hashKey } from '../../dist/mask/hash.js';
import { type MaskStrategy, maskValue, type ValueFormat } from '../../dist/mask/strategies.js';

const VALUE_LENGTH = 100;
const VALUES = 1000;
const PASSES = 40;
const WARMUP_PASSES = 5;

// mulberry32, seeded: an integer in [0, n), the same values on every run.
let seed = 42;
function random(n: number): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
}

const words =
  'order shipped warehouse status pending customer note delivery returned refund priority the and of'.split(
    ' ',
  );

/**
 * A value as the relay will see it: decoded from bytes, so a flat string (strings
 * built by concatenation and slice are ropes and slices, slower to scan).
 */
function value(build: () => string): string {
  let s = '';
  while (s.length < VALUE_LENGTH) s += build();
  return Buffer.from(s.slice(0, VALUE_LENGTH)).toString();
}

/** Words only: names, statuses, descriptions. */
const wordsOnly = () => value(() => `${words[random(words.length)]} `);
/** Prose where one word in four is a number below 10,000. */
const prose = () => value(() => (random(4) === 0 ? `${random(10000)} ` : `${words[random(words.length)]} `));
/** Amounts and dates: every digit detector's regex runs on these, and none matches. */
const digits = () => value(() => `${random(100000)}.${random(100)} 2024-0${1 + random(9)}-1${random(10)} `);

const MATCHES: Record<DetectorName, string> = {
  ssn: '123-45-6789',
  'credit-card': '4111 1111 1111 1111',
  email: 'alice.smith@example.com',
  phone: '+1 (415) 555-2671',
  iban: 'DE89 3704 0044 0532 0130 00',
  secret: 'api_key=sk_live_51HqLyjWDarjtT1zdp7dc',
};

/** Words with one match of `name` in the middle. */
function withMatch(name: DetectorName): string {
  const match = MATCHES[name];
  const filler = wordsOnly();
  const half = (VALUE_LENGTH - match.length - 2) >> 1;
  return Buffer.from(
    `${filler.slice(0, half)} ${match} ${filler.slice(0, VALUE_LENGTH - match.length - 2 - half)}`,
  ).toString();
}

/**
 * Nanoseconds per value in the fastest pass of `run` over the values: other
 * processes on the machine only ever add time, so the fastest pass is the
 * steadiest estimate. `run` returns a number so its work stays observable.
 */
function nsPerValue<T>(values: readonly T[], run: (value: T) => number): number {
  let fastest = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let pass = 0; pass < WARMUP_PASSES + PASSES; pass++) {
    const t0 = process.hrtime.bigint();
    for (const v of values) sink += run(v);
    const ns = Number(process.hrtime.bigint() - t0) / values.length;
    if (pass >= WARMUP_PASSES) fastest = Math.min(fastest, ns);
  }
  if (Number.isNaN(sink)) throw new Error('unreachable');
  return fastest;
}

const corpora = [wordsOnly, prose, digits].map((build) => Array.from({ length: VALUES }, build));
const header = ['detector', 'words', 'prose', 'amounts+dates', 'one match'];
console.log(`ns per ${VALUE_LENGTH}-character value (fastest of ${PASSES} passes over ${VALUES} values)`);
console.log(header.map((h, i) => (i === 0 ? h.padEnd(12) : h.padStart(14))).join(''));
for (const name of [...DETECTOR_NAMES, undefined]) {
  const enabled = name === undefined ? DETECTOR_NAMES : [name];
  const matching = Array.from({ length: VALUES }, (_, i) =>
    withMatch(name ?? (DETECTOR_NAMES[i % 6] as DetectorName)),
  );
  // Random prose can hold a real match ("147 75 8132" is SSN-shaped); only the match values are checked.
  const missed = matching.find((v) => detect(v, enabled).length !== 1);
  if (missed !== undefined)
    throw new Error(`${name ?? 'all six'} does not find exactly one span in ${missed}`);
  const cells = [...corpora, matching].map((values) =>
    nsPerValue(values, (v) => detect(v, enabled).length).toFixed(0),
  );
  console.log([(name ?? 'all six').padEnd(12), ...cells.map((c) => c.padStart(14))].join(''));
}

const key = hashKey(Buffer.alloc(32, 7));
const strategies: [
  label: string,
  strategy: MaskStrategy,
  values: Buffer[],
  format: ValueFormat,
  oid: number,
][] = [
  ['redact, text', { strategy: 'redact' }, column((i) => `user${i}@example.com`), 'text', 25],
  ['null', { strategy: 'null' }, column((i) => `user${i}@example.com`), 'text', 25],
  ['partial, SSN', { strategy: 'partial', keepFirst: 0, keepLast: 4 }, column(ssn), 'text', 25],
  [
    'partial, email',
    { strategy: 'partial', keepFirst: 1, keepLast: 0 },
    column((i) => `user${i}@example.com`),
    'text',
    25,
  ],
  [
    'partial, accented name',
    { strategy: 'partial', keepFirst: 1, keepLast: 0 },
    column((i) => `José Núñez ${i}`),
    'text',
    25,
  ],
  [
    'partial, emoji',
    { strategy: 'partial', keepFirst: 1, keepLast: 0 },
    column((i) => `👍🏽 ${i}`),
    'text',
    25,
  ],
  ['hash, email', { strategy: 'hash', key }, column((i) => `user${i}@example.com`), 'text', 25],
  [
    'hash, int8 binary',
    { strategy: 'hash', key },
    Array.from({ length: VALUES }, (_, i) => int8(i)),
    'binary',
    20,
  ],
];
console.log(`\nns per column value under a strategy (fastest of ${PASSES} passes over ${VALUES} values)`);
for (const [label, strategy, values, format, oid] of strategies) {
  const ns = nsPerValue(values, (v) => maskValue(strategy, v, format, oid)?.length ?? 0);
  console.log(`${label.padEnd(26)}${ns.toFixed(0).padStart(8)}`);
}

function column(make: (i: number) => string): Buffer[] {
  return Array.from({ length: VALUES }, (_, i) => Buffer.from(make(i)));
}

function ssn(i: number): string {
  return `${100 + (i % 800)}-${10 + (i % 89)}-${1000 + i}`;
}

function int8(i: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(i) * 7919n);
  return b;
}
