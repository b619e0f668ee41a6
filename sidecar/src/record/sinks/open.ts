import { parseByteSize, type RecordingSink } from '@pgwarden/crds';
import { DirStore } from './dir.js';
import { type S3Credentials, S3Store } from './s3.js';
import type { ChunkSink, RecordingStore } from './sink.js';

export class SinkConfigError extends Error {}

/** The sink a policy's `recording.sink` names; credentials come from the environment variables it names. */
export async function openSink(
  sink: RecordingSink,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChunkSink & RecordingStore> {
  if (sink.type === 'dir') return new DirStore(sink.path);
  return S3Store.create({
    bucket: sink.bucket,
    prefix: sink.prefix,
    region: sink.region,
    endpoint: sink.endpoint,
    pathStyle: sink.pathStyle,
    credentials: s3Credentials(sink.credentials, env),
    multipartThresholdBytes: parseByteSize(sink.multipartThreshold) as number,
    partSizeBytes: parseByteSize(sink.partSize) as number,
  });
}

type CredentialNames = Extract<RecordingSink, { type: 's3' }>['credentials'];

/**
 * Explicit credentials when the named variables are set. With the default
 * names unset, the SDK's own chain (web identity, instance metadata) decides;
 * names the policy chose must be set.
 */
export function s3Credentials(names: CredentialNames, env: NodeJS.ProcessEnv): S3Credentials | undefined {
  const accessKeyId = env[names.accessKeyIdEnv];
  const secretAccessKey = env[names.secretAccessKeyEnv];
  const sessionToken = names.sessionTokenEnv ? env[names.sessionTokenEnv] : undefined;
  if (accessKeyId && secretAccessKey) {
    return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
  }
  const defaults =
    names.accessKeyIdEnv === 'AWS_ACCESS_KEY_ID' && names.secretAccessKeyEnv === 'AWS_SECRET_ACCESS_KEY';
  if (defaults && !accessKeyId && !secretAccessKey) return undefined;
  const missing = [names.accessKeyIdEnv, names.secretAccessKeyEnv].filter((n) => !env[n]);
  throw new SinkConfigError(`recording sink s3: environment variable ${missing.join(' and ')} not set`);
}
