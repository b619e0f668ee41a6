import type { CompiledPolicy } from '@pgwarden/crds';
import type { ApprovalService } from '../approve/approval-service.js';
import type { Upstream } from '../config/upstream-url.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import type { Recorder } from '../record/recorder.js';
import { type AccessSource, fixedSessionAccess, type SessionAccess } from './access.js';
import { PolicyRuntime } from './policy-runtime.js';
import { openRecorder } from './recorders.js';

/**
 * Standalone access: --upstream and --policy (or none), the same for every
 * connection for the life of the process.
 */
export class StaticAccess implements AccessSource {
  readonly mode = 'static';
  private readonly access: SessionAccess;

  private constructor(
    upstream: Upstream,
    private readonly runtime: PolicyRuntime | null,
    private readonly recorder: Recorder | null,
    private readonly log: Logger,
  ) {
    this.access = fixedSessionAccess(upstream, runtime?.enforcement ?? null, recorder);
  }

  /** Opens the recorder first: a spool another sidecar holds, or a sink that cannot be set up, stops the start. */
  static async open(
    upstream: Upstream,
    policy: CompiledPolicy | null,
    spoolDir: string | null,
    approvals: ApprovalService | null,
    log: Logger,
    metrics: ProxyMetrics,
  ): Promise<StaticAccess> {
    let recorder: Recorder | null = null;
    if (policy?.recording) {
      if (!spoolDir) throw new Error('recording needs a spool directory');
      recorder = await openRecorder(policy.recording, spoolDir, log);
      const opened = recorder;
      metrics.observeRecorder(() => opened.stats());
    } else if (spoolDir) {
      log.warn({ spoolDir }, 'the policy records nothing; --spool-dir is unused');
    }
    const runtime = policy ? new PolicyRuntime(policy, upstream, approvals, log, metrics) : null;
    return new StaticAccess(upstream, runtime, recorder, log);
  }

  ready(): boolean {
    return true;
  }

  resolve(): Promise<SessionAccess> {
    return Promise.resolve(this.access);
  }

  async close({ shipTimeoutMs }: { shipTimeoutMs: number }): Promise<void> {
    this.runtime?.close();
    if (this.recorder) {
      // Every session has been sealed; give the shipper a bounded time to empty the spool.
      const { shipped } = await this.recorder.close({ shipTimeoutMs });
      this.log.info({ shipped }, 'recordings sealed');
    }
  }
}
