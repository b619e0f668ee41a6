export type { BackoffOptions } from './backoff.js';
export { chunkName, chunkSeqOf, type DecodedChunk, decodeChunk, encodeChunk, sha256Hex } from './chunk.js';
export {
  newRecordingId,
  Recorder,
  type RecorderOptions,
  type RecorderStats,
  type SessionStartInput,
} from './recorder.js';
export type { RecordingRefusal, RefusalCause } from './refusal.js';
export { scrubCredentials } from './scrub.js';
export type {
  ApprovalInput,
  Cell,
  DecisionInput,
  FactsInput,
  MessageInput,
  ResultInput,
  SessionRecorder,
  StatementInput,
} from './session-recorder.js';
export { DirStore } from './sinks/dir.js';
export { openSink, SinkConfigError } from './sinks/open.js';
export { parseS3Url, S3Store } from './sinks/s3.js';
export type { ChunkSink, RecordingStore } from './sinks/sink.js';
export { type BrokenChunk, ChainVerifier, type VerifyReport } from './verify.js';
