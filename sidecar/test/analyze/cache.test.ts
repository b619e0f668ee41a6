import { beforeAll, describe, expect, it } from 'vitest';
import { Lru } from '../../src/analyze/lru.js';
import { analyze, createAnalyzer, ensureParserLoaded } from '../../src/analyze/parser.js';

beforeAll(() => ensureParserLoaded());

describe('Lru', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.size).toBe(2);
  });

  it('keeps nothing at capacity 0', () => {
    const lru = new Lru<string, number>(0);
    lru.set('a', 1);
    expect(lru.get('a')).toBeUndefined();
  });

  it.each([-1, 1.5, Number.NaN])('rejects capacity %s', (capacity) => {
    expect(() => new Lru(capacity)).toThrow(RangeError);
  });
});

describe('the analysis cache', () => {
  it('returns the identical result object for the same text', () => {
    const analyzer = createAnalyzer();
    const first = analyzer('SELECT * FROM t WHERE id = $1');
    expect(analyzer('SELECT * FROM t WHERE id = $1')).toBe(first);
    expect(analyze('SELECT 42')).toBe(analyze('SELECT 42'));
  });

  it('caches failed analyses too', () => {
    const analyzer = createAnalyzer();
    expect(analyzer('SELEC 1')).toBe(analyzer('SELEC 1'));
  });

  it('evicts beyond its capacity, and analyses an evicted text afresh', () => {
    const analyzer = createAnalyzer({ cacheCapacity: 2 });
    const one = analyzer('SELECT 1');
    analyzer('SELECT 2');
    expect(analyzer('SELECT 1')).toBe(one);
    analyzer('SELECT 3');
    analyzer('SELECT 4');
    const again = analyzer('SELECT 1');
    expect(again).not.toBe(one);
    expect(again).toEqual(one);
  });

  it('does not cache at capacity 0, nor texts longer than maxCachedLength', () => {
    const uncached = createAnalyzer({ cacheCapacity: 0 });
    expect(uncached('SELECT 1')).not.toBe(uncached('SELECT 1'));
    const short = createAnalyzer({ maxCachedLength: 10 });
    expect(short('SELECT 1')).toBe(short('SELECT 1'));
    expect(short('SELECT 12345')).not.toBe(short('SELECT 12345'));
  });

  it('hands out deeply frozen results, since cached ones are shared', () => {
    const analysis = createAnalyzer()('PREPARE p AS SELECT * FROM t FOR UPDATE');
    if (!analysis.ok) throw new Error('expected the statement to parse');
    const facts = analysis.statements[0]?.facts;
    expect(Object.isFrozen(analysis)).toBe(true);
    expect(Object.isFrozen(facts)).toBe(true);
    expect(Object.isFrozen(facts?.tablesRead)).toBe(true);
    expect(Object.isFrozen(facts?.inner)).toBe(true);
    expect(() => facts?.tablesRead.push('x' as never)).toThrow(TypeError);
  });
});
