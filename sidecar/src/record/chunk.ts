import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, gunzip, gzip } from 'node:zlib';
import {
  type ChunkHeader,
  ChunkHeaderSchema,
  RECORDING_FORMAT,
  type RecordingEvent,
  RecordingEventSchema,
} from '@pgwarden/crds';

/**
 * A chunk is one gzip member holding JSON Lines: the header, then one event per
 * line, each line ending in "\n". The next chunk's header carries the SHA-256 of
 * these bytes as stored, which chains the chunks of a recording.
 */

const gzipAsync = promisify(gzip);
/**
 * Fastest compression: on event lines it takes about a third of the CPU of
 * zlib's default level (6) for some 15% more bytes, and the recording's cost
 * is CPU on the proxy's host, in line with every statement, while storage is cheap.
 */
const GZIP = { level: constants.Z_BEST_SPEED };
const gunzipAsync = promisify(gunzip);

/** Chunk names sort in sequence order: 10 digits cover any recording a sidecar can make. */
const CHUNK_NAME = /^(\d{10})\.jsonl\.gz$/;

export function chunkName(seq: number): string {
  return `${String(seq).padStart(10, '0')}.jsonl.gz`;
}

/** The chunk's sequence number from its file or object name, or null when it is not a chunk. */
export function chunkSeqOf(name: string): number | null {
  const m = CHUNK_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface ChunkInput {
  recordingId: string;
  seq: number;
  firstEvent: number;
  prevSha256: string | null;
  final: boolean;
  firstAt: string;
  lastAt: string;
  /** Number of events in body. */
  events: number;
  /** The events as UTF-8 JSON lines, each ending in "\n". */
  body: Buffer;
}

export interface EncodedChunk {
  header: ChunkHeader;
  bytes: Buffer;
  sha256: string;
}

/** Compression runs on the libuv thread pool, off the event loop. */
export async function encodeChunk(input: ChunkInput): Promise<EncodedChunk> {
  const header: ChunkHeader = {
    type: 'chunk',
    format: RECORDING_FORMAT,
    recordingId: input.recordingId,
    seq: input.seq,
    firstEvent: input.firstEvent,
    events: input.events,
    firstAt: input.firstAt,
    lastAt: input.lastAt,
    prevSha256: input.prevSha256,
    final: input.final,
  };
  const text = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), input.body]);
  const bytes = await gzipAsync(text, GZIP);
  return { header, bytes, sha256: sha256Hex(bytes) };
}

export interface DecodedChunk {
  header: ChunkHeader;
  events: RecordingEvent[];
}

export class ChunkFormatError extends Error {}

/** Decompresses and validates one chunk: header, event schemas, event numbering. */
export async function decodeChunk(bytes: Uint8Array): Promise<DecodedChunk> {
  let text: string;
  try {
    text = (await gunzipAsync(bytes)).toString('utf8');
  } catch (err) {
    throw new ChunkFormatError(`not a gzip stream: ${(err as Error).message}`);
  }
  if (!text.endsWith('\n')) throw new ChunkFormatError('does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const header = ChunkHeaderSchema.safeParse(parseLine(lines[0] ?? '', 1));
  if (!header.success) throw new ChunkFormatError(`bad header: ${header.error.issues[0]?.message}`);
  const h = header.data;
  if (lines.length - 1 !== h.events) {
    throw new ChunkFormatError(`header says ${h.events} events, the chunk has ${lines.length - 1}`);
  }
  const events: RecordingEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const parsed = RecordingEventSchema.safeParse(parseLine(lines[i] as string, i + 1));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ChunkFormatError(`line ${i + 1}: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    if (parsed.data.seq !== h.firstEvent + i - 1) {
      throw new ChunkFormatError(`line ${i + 1}: event ${parsed.data.seq}, expected ${h.firstEvent + i - 1}`);
    }
    events.push(parsed.data);
  }
  const last = events.at(-1);
  if (h.final !== (last?.type === 'session-end')) {
    throw new ChunkFormatError(
      h.final ? 'final chunk does not end with session-end' : 'session-end in a chunk not marked final',
    );
  }
  return { header: h, events };
}

function parseLine(line: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new ChunkFormatError(`line ${n} is not JSON`);
  }
}
