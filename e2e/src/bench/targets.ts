import type { Endpoint } from './pgbench.js';
import type { RecordingDirs } from './recording.js';

export const targetNames = [
  'direct',
  'pgbouncer',
  'pgwarden',
  'pgwarden+policy',
  'pgwarden+policy+recording',
] as const;
export type TargetName = (typeof targetNames)[number];

/** The proxy's configurations, each held to the pass-through targets. */
export const proxyTargets = [
  'pgwarden',
  'pgwarden+policy',
  'pgwarden+policy+recording',
] as const satisfies readonly TargetName[];
export type ProxyTarget = (typeof proxyTargets)[number];

/** Progress lines align the targets' names in this width. */
export const nameWidth = Math.max(...targetNames.map((name) => name.length));

/** One way to reach the cluster. */
export interface Target {
  readonly name: TargetName;
  readonly endpoint: Endpoint;
  /** The process between client and server (PgBouncer, the proxy), whose CPU and memory are measured. */
  readonly middlePid: number | undefined;
  /** The recording target's spool and sink, whose growth per transaction is measured. */
  readonly recording?: RecordingDirs;
}
