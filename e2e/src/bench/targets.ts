import type { Endpoint } from './pgbench.js';

export const targetNames = ['direct', 'pgbouncer', 'pgwarden'] as const;
export type TargetName = (typeof targetNames)[number];

/** One way to reach the cluster. */
export interface Target {
  readonly name: TargetName;
  readonly endpoint: Endpoint;
  /** The process between client and server (PgBouncer, the proxy), whose CPU and memory are measured. */
  readonly middlePid: number | undefined;
}
