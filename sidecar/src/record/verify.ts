import type { RecordingEvent, SessionEndReason } from '@pgwarden/crds';
import {
  ChunkFormatError,
  chunkName,
  chunkSeqOf,
  type DecodedChunk,
  decodeChunk,
  sha256Hex,
} from './chunk.js';

/** The first thing wrong with a recording, named by chunk. */
export interface BrokenChunk {
  /** The chunk's name (e.g. "0000000003.jsonl.gz"), or the name a missing chunk would have. */
  chunk: string;
  reason: string;
}

export interface VerifyReport {
  recordingId: string;
  /** Every chunk is intact, in sequence, chained, and the last one seals the recording. */
  ok: boolean;
  chunks: number;
  events: number;
  sealed: boolean;
  endReason: SessionEndReason | null;
  /** SHA-256 of the last chunk read: anchor it elsewhere to protect the end of the recording. */
  headSha256: string | null;
  broken: BrokenChunk | null;
}

/**
 * Checks a recording chunk by chunk, in name order: each chunk must decode,
 * carry the next sequence number and the recording's id, continue the event
 * numbering, and name the SHA-256 of the chunk before it; the last must be
 * final. Stops at the first broken chunk. Feeding chunks one by one lets
 * replay print while it verifies, and --follow go on as chunks arrive.
 */
export class ChainVerifier {
  private seq = 0;
  private nextEvent = 0;
  private prevSha: string | null = null;
  private events = 0;
  private sealed = false;
  private endReason: SessionEndReason | null = null;
  private brokenAt: BrokenChunk | null = null;

  constructor(readonly recordingId: string) {}

  get broken(): BrokenChunk | null {
    return this.brokenAt;
  }

  /** Chunks accepted so far; the next expected chunk's sequence number. */
  get chunks(): number {
    return this.seq;
  }

  /** Returns the decoded chunk, or null once the chain is broken (see {@link broken}). */
  async push(name: string, bytes: Uint8Array): Promise<DecodedChunk | null> {
    if (this.brokenAt) return null;
    const expected = chunkName(this.seq);
    const fail = (chunk: string, reason: string) => {
      this.brokenAt = { chunk, reason };
      return null;
    };
    if (this.sealed) return fail(name, `follows the final chunk ${chunkName(this.seq - 1)}`);
    const nameSeq = chunkSeqOf(name);
    if (nameSeq === null) return fail(name, 'is not a chunk name (NNNNNNNNNN.jsonl.gz)');
    if (nameSeq > this.seq) return fail(expected, `is missing (the next chunk present is ${name})`);
    if (nameSeq < this.seq) return fail(name, `is out of order (expected ${expected})`);
    let decoded: DecodedChunk;
    try {
      decoded = await decodeChunk(bytes);
    } catch (err) {
      if (err instanceof ChunkFormatError) return fail(name, `is corrupt: ${err.message}`);
      throw err;
    }
    const h = decoded.header;
    if (h.recordingId !== this.recordingId) {
      return fail(name, `belongs to recording ${h.recordingId}, not ${this.recordingId}`);
    }
    if (h.seq !== this.seq)
      return fail(name, `has sequence number ${h.seq} in its header (moved or reordered)`);
    if (h.prevSha256 !== this.prevSha) {
      return fail(
        name,
        this.prevSha === null
          ? 'is the first chunk but names a previous chunk'
          : `does not chain: its prevSha256 ${h.prevSha256 ?? 'null'} is not the SHA-256 of ${chunkName(this.seq - 1)} (${this.prevSha}); that chunk was altered or replaced`,
      );
    }
    if (h.firstEvent !== this.nextEvent) {
      return fail(name, `starts at event ${h.firstEvent}, expected ${this.nextEvent}`);
    }
    if (this.seq === 0 && decoded.events[0]?.type !== 'session-start') {
      return fail(name, 'does not start with session-start');
    }
    this.seq += 1;
    this.nextEvent += decoded.events.length;
    this.events += decoded.events.length;
    this.prevSha = sha256Hex(bytes);
    if (h.final) {
      this.sealed = true;
      const end = decoded.events.at(-1) as Extract<RecordingEvent, { type: 'session-end' }>;
      this.endReason = end.reason;
    }
    return decoded;
  }

  report(): VerifyReport {
    const broken =
      this.brokenAt ??
      (this.sealed
        ? null
        : {
            chunk: chunkName(this.seq),
            reason:
              this.seq === 0
                ? 'is missing: the recording has no chunks'
                : 'is missing: the recording is not sealed (the session may still be running, or its last chunks were removed)',
          });
    return {
      recordingId: this.recordingId,
      ok: broken === null,
      chunks: this.seq,
      events: this.events,
      sealed: this.sealed,
      endReason: this.endReason,
      headSha256: this.prevSha,
      broken,
    };
  }
}
