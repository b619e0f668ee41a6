import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { guardProcesses } from '../control-plane/reaper.js';
import { freePort } from './port.js';

/** e2e/s3/build.sh, from e2e/src/harness and from e2e/dist/harness alike. */
const buildScript = fileURLToPath(new URL('../../s3/build.sh', import.meta.url));

let binary: string | undefined;

/**
 * Path of the versitygw binary, built from Go modules on first use and cached
 * outside the repo (e2e/s3/README.md); about 2 minutes cold, milliseconds after.
 */
export function s3ServerBinary(): string {
  if (binary) return binary;
  const out = spawnSync('bash', [buildScript], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (out.status !== 0) throw new Error(`e2e/s3/build.sh failed (exit ${out.status}); see its output above`);
  binary = out.stdout.trim();
  return binary;
}

export interface S3Server {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly region: 'us-east-1';
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** True between start()/restart() and stop(). */
  readonly running: boolean;
  createBucket(name: string): Promise<void>;
  /** Stops the server (SIGTERM); the stored objects stay on disk for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same objects. */
  restart(): Promise<void>;
  /** Stops it and erases its storage. */
  destroy(): Promise<void>;
}

/**
 * A real S3-compatible server (versitygw, posix backend: objects are files) on
 * a random loopback port, with SigV4 authentication for one generated key pair.
 */
export async function startS3(): Promise<S3Server> {
  const bin = s3ServerBinary();
  const root = await mkdtemp(join(tmpdir(), 'pgwarden-s3-'));
  const dataDir = join(root, 'data');
  const metaDir = join(root, 'meta');
  await mkdir(dataDir);
  await mkdir(metaDir);
  const accessKeyId = `test${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(18).toString('base64url');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const logFile = join(root, 'server.log');
  let child: ChildProcess | undefined;
  // Kills the server and erases its storage even when the owner never calls destroy().
  const guard = guardProcesses(root);

  const launch = async () => {
    const log = openSync(logFile, 'a');
    child = spawn(
      bin,
      [
        '--port',
        `127.0.0.1:${port}`,
        '--access',
        accessKeyId,
        '--secret',
        secretAccessKey,
        '--region',
        'us-east-1',
        '--quiet',
        'posix',
        '--sidecar',
        metaDir,
        dataDir,
      ],
      // Its own process group, which the guard kills.
      { stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, detached: true },
    );
    closeSync(log);
    guard.track([child.pid as number]);
    await waitReady(endpoint, child, logFile);
  };

  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    get running() {
      return child !== undefined;
    },
    async createBucket(name) {
      const client = new S3Client({
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
      });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    stop: halt,
    async restart() {
      await halt();
      await launch();
    },
    async destroy() {
      await halt();
      guard.release();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function waitReady(endpoint: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      // Any HTTP answer (an anonymous request gets 403) means it serves.
      await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1_000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const log = await readFile(logFile, 'utf8').catch(() => '');
  child.kill('SIGKILL');
  throw new Error(`versitygw did not start on ${endpoint}\n${log}`);
}
