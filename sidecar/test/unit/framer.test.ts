import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrontendCode } from '../../src/wire/codes.js';
import { PgError } from '../../src/wire/error-response.js';
import { DROP, type FrameVisitor, MessageFramer } from '../../src/wire/framer.js';
import { checkFrontendHeader } from '../../src/wire/frontend-check.js';
import { ProtocolViolation } from '../../src/wire/reader.js';

const codes = Object.values(FrontendCode);

function message(code: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = code;
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

interface Run {
  forwarded: Buffer;
  seen: Buffer[];
  idle: boolean;
}

/** Feeds `chunks` through a framer that wants every message whole except those in `streamed`. */
function frame(chunks: Buffer[], streamed: Set<number> = new Set(), drop: Set<number> = new Set()): Run {
  const out: Buffer[] = [];
  const seen: Buffer[] = [];
  const visitor: FrameVisitor = {
    onHeader: (code) => !streamed.has(code),
    onMessage: (code, buf, start, end) => {
      seen.push(Buffer.from(buf.subarray(start, end)));
      return drop.has(code) ? DROP : undefined;
    },
  };
  const framer = new MessageFramer(visitor, { push: (b) => out.push(Buffer.from(b)) });
  for (const c of chunks) framer.push(c);
  return { forwarded: Buffer.concat(out), seen, idle: framer.idle };
}

function splitAt(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    if (p > prev) chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

const arbMessage = fc
  .record({ code: fc.constantFrom(...codes), body: fc.uint8Array({ maxLength: 300 }) })
  .map(({ code, body }) => message(code, Buffer.from(body)));

describe('MessageFramer', () => {
  const fixture = Buffer.concat([
    message(FrontendCode.Query, Buffer.from('select 1\0')),
    message(FrontendCode.Parse, Buffer.from('\0select $1\0\0\0')),
    message(FrontendCode.Sync, Buffer.alloc(0)),
    message(FrontendCode.CopyData, Buffer.from('a,b,c\n')),
    message(FrontendCode.Terminate, Buffer.alloc(0)),
  ]);

  it('decodes a fixture identically when split at every pair of boundaries', () => {
    const whole = frame([fixture]);
    expect(whole.seen).toHaveLength(5);
    for (let i = 0; i <= fixture.length; i++) {
      for (let j = i; j <= fixture.length; j++) {
        const r = frame(splitAt(fixture, [i, j]));
        expect(r.forwarded.equals(fixture)).toBe(true);
        expect(r.seen).toEqual(whole.seen);
        expect(r.idle).toBe(true);
      }
    }
  });

  it('forwards a run of whole messages inside one chunk as a single slice of that chunk', () => {
    const out: Buffer[] = [];
    const framer = new MessageFramer(
      { onHeader: () => true, onMessage: () => undefined },
      { push: (b) => out.push(b) },
    );
    framer.push(fixture);
    expect(out).toHaveLength(1);
    expect(out[0]?.buffer).toBe(fixture.buffer);
  });

  it('streams messages the visitor does not want whole, without ever calling onMessage for them', () => {
    const r = frame(splitAt(fixture, [3, 20, 41]), new Set([FrontendCode.CopyData]));
    expect(r.forwarded.equals(fixture)).toBe(true);
    expect(r.seen.map((m) => m[0])).toEqual([
      FrontendCode.Query,
      FrontendCode.Parse,
      FrontendCode.Sync,
      FrontendCode.Terminate,
    ]);
  });

  it('leaves out exactly the messages the visitor drops', () => {
    const r = frame(splitAt(fixture, [7, 30]), new Set(), new Set([FrontendCode.Parse]));
    const parse = message(FrontendCode.Parse, Buffer.from('\0select $1\0\0\0'));
    const start = fixture.indexOf(parse);
    const expected = Buffer.concat([fixture.subarray(0, start), fixture.subarray(start + parse.length)]);
    expect(r.forwarded.equals(expected)).toBe(true);
  });

  it('property: a replaced message leaves in its own place in the stream, whatever the split', () => {
    const marker = message(FrontendCode.Sync, Buffer.alloc(0));
    fc.assert(
      fc.property(
        fc.array(arbMessage, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages);
          const out: Buffer[] = [];
          const framer = new MessageFramer(
            {
              onHeader: () => true,
              onMessage: (code) => (code === FrontendCode.Query ? marker : undefined),
            },
            { push: (b) => out.push(Buffer.from(b)) },
          );
          for (const c of splitAt(stream, cuts)) framer.push(c);
          const expected = Buffer.concat(messages.map((m) => (m[0] === FrontendCode.Query ? marker : m)));
          expect(Buffer.concat(out).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: any split of any valid stream forwards the same bytes and sees the same messages', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.subarray(codes),
        (messages, cuts, streamedCodes) => {
          const stream = Buffer.concat(messages);
          const streamed = new Set<number>(streamedCodes);
          const r = frame(splitAt(stream, cuts), streamed);
          expect(r.forwarded.equals(stream)).toBe(true);
          expect(r.seen).toEqual(messages.filter((m) => !streamed.has(m[0] as number)));
          expect(r.idle).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('fuzz: random bytes with the client checks only ever raise a protocol error', () => {
    const limits = { maxMessageBytes: 4096, maxCopyDataBytes: 8192 };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const framer = new MessageFramer(
          {
            onHeader: (code, length) => {
              checkFrontendHeader(code, length, limits);
              return true;
            },
            onMessage: () => undefined,
          },
          { push: () => {} },
        );
        try {
          for (const c of chunks) framer.push(Buffer.from(c));
        } catch (err) {
          expect(err instanceof ProtocolViolation || err instanceof PgError).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects a length below 4 and an oversize message before buffering its body', () => {
    const limits = { maxMessageBytes: 1024, maxCopyDataBytes: 2048 };
    const checked = (chunk: Buffer) => {
      const framer = new MessageFramer(
        {
          onHeader: (code, length) => {
            checkFrontendHeader(code, length, limits);
            return true;
          },
          onMessage: () => undefined,
        },
        { push: () => {} },
      );
      framer.push(chunk);
    };
    const short = Buffer.from([FrontendCode.Query, 0, 0, 0, 3]);
    expect(() => checked(short)).toThrow(ProtocolViolation);
    const huge = Buffer.from([FrontendCode.Query, 0x40, 0, 0, 0]);
    expect(() => checked(huge)).toThrow(/exceeds the limit of 1024 bytes/);
    const bigCopy = Buffer.from([FrontendCode.CopyData, 0, 0, 0x07, 0xd0]);
    expect(() => checked(bigCopy)).not.toThrow();
    expect(() => checked(Buffer.from([0x01, 0, 0, 0, 4]))).toThrow(/unknown message type 0x01/);
  });
});
