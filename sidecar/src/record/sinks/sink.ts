/** Where finished chunks go. `put` resolves only once the chunk is durably stored; it may be called again with the same chunk. */
export interface ChunkSink {
  /** For logs and errors: "dir /recordings", "s3 s3://bucket/prefix/". Never a credential. */
  readonly description: string;
  put(recordingId: string, name: string, bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Reading recordings back, for replay and verification. */
export interface RecordingStore {
  readonly description: string;
  /** Recording ids, sorted (ids made by the sidecar sort by start time). */
  listRecordings(): Promise<string[]>;
  /** Chunk names of one recording, sorted. */
  listChunks(recordingId: string): Promise<string[]>;
  readChunk(recordingId: string, name: string): Promise<Buffer>;
  close(): Promise<void>;
}
