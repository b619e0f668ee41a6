import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { chunkSeqOf } from '../chunk.js';
import type { ChunkSink, RecordingStore } from './sink.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Location {
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
  region: string;
  /** An S3-compatible endpoint; undefined for AWS S3. */
  endpoint?: string;
  pathStyle: boolean;
  /** undefined: the SDK's default chain (environment, web identity, instance metadata). */
  credentials?: S3Credentials;
  multipartThresholdBytes: number;
  partSizeBytes: number;
}

type S3Sdk = typeof import('@aws-sdk/client-s3');
type StorageSdk = typeof import('@aws-sdk/lib-storage');

/**
 * Recordings in an S3-compatible bucket: <prefix><recordingId>/<chunk>. Small
 * chunks go up in one PutObject with Content-MD5 (the store checks the bytes);
 * chunks of multipartThresholdBytes and more as a multipart upload, which the
 * SDK aborts when a part fails. An object is visible only once complete.
 * The SDK is loaded on first use: a sidecar without an S3 sink never pays for it.
 */
export class S3Store implements ChunkSink, RecordingStore {
  readonly description: string;

  private constructor(
    private readonly loc: S3Location,
    private readonly sdk: S3Sdk,
    private readonly storage: StorageSdk,
    private readonly client: S3Client,
  ) {
    this.description = `s3 s3://${loc.bucket}/${loc.prefix}${loc.endpoint ? ` at ${loc.endpoint}` : ''}`;
  }

  static async create(loc: S3Location): Promise<S3Store> {
    const [sdk, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
    const client = new sdk.S3Client({
      region: loc.region,
      endpoint: loc.endpoint,
      forcePathStyle: loc.pathStyle,
      credentials: loc.credentials,
      // The shipper retries with its own backoff; one SDK retry covers a dropped keep-alive connection.
      maxAttempts: 2,
      // Extra checksum headers are not understood by every S3-compatible store; Content-MD5 covers single puts.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    });
    return new S3Store(loc, sdk, storage, client);
  }

  private key(recordingId: string, name: string): string {
    return `${this.loc.prefix}${recordingId}/${name}`;
  }

  async put(recordingId: string, name: string, bytes: Buffer): Promise<void> {
    const Key = this.key(recordingId, name);
    const ContentType = 'application/gzip';
    if (bytes.length < this.loc.multipartThresholdBytes) {
      const ContentMD5 = createHash('md5').update(bytes).digest('base64');
      await this.client.send(
        new this.sdk.PutObjectCommand({ Bucket: this.loc.bucket, Key, Body: bytes, ContentType, ContentMD5 }),
      );
      return;
    }
    const upload = new this.storage.Upload({
      client: this.client,
      params: { Bucket: this.loc.bucket, Key, Body: bytes, ContentType },
      partSize: this.loc.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async listRecordings(): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of this.pages(this.loc.prefix, '/')) {
      for (const p of page.CommonPrefixes ?? []) {
        const id = p.Prefix?.slice(this.loc.prefix.length, -1);
        if (id) ids.push(id);
      }
    }
    return ids.sort();
  }

  async listChunks(recordingId: string): Promise<string[]> {
    const prefix = `${this.loc.prefix}${recordingId}/`;
    const names: string[] = [];
    for await (const page of this.pages(prefix, undefined)) {
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(prefix.length);
        if (name && chunkSeqOf(name) !== null) names.push(name);
      }
    }
    return names.sort();
  }

  async readChunk(recordingId: string, name: string): Promise<Buffer> {
    const out = await this.client.send(
      new this.sdk.GetObjectCommand({ Bucket: this.loc.bucket, Key: this.key(recordingId, name) }),
    );
    if (!out.Body) throw new Error(`s3://${this.loc.bucket}/${this.key(recordingId, name)} has no body`);
    return Buffer.from(await out.Body.transformToByteArray());
  }

  /** The ETag the store holds for a chunk (a multipart object's ends in "-<parts>"); for tests and diagnostics. */
  async etag(recordingId: string, name: string): Promise<string | undefined> {
    const out = await this.client.send(
      new this.sdk.HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(recordingId, name) }),
    );
    return out.ETag;
  }

  private async *pages(Prefix: string, Delimiter: string | undefined) {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix, Delimiter, ContinuationToken }),
      );
      yield page;
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** "s3://bucket/some/prefix" → bucket and prefix ("" or ending in "/"). */
export function parseS3Url(url: string): { bucket: string; prefix: string } | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) return null;
  const rest = m[2] ?? '';
  return { bucket: m[1] as string, prefix: rest === '' || rest.endsWith('/') ? rest : `${rest}/` };
}
