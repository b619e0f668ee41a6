import {
  type AgentAccessPolicySpec,
  type ApprovalRequest,
  type ApprovalStatus,
  DatabaseConnectionSpecSchema,
  type Impact,
  parseDurationMs,
  QUERY_APPROVAL_PLURAL,
} from '@pgwarden/crds';
import { AGENT_ACCESS_POLICIES } from '../../agent-access-policy/reconcile.js';
import { connectDatabase, databaseTarget } from '../../database-connection/client.js';
import { readCredentials } from '../../database-connection/credentials.js';
import { DATABASE_CONNECTIONS } from '../../database-connection/reconcile.js';
import { apiStatus, type KubeClients, resource } from '../../kube/clients.js';
import { getObject, type StoredObject, setStatusField } from '../../kube/objects.js';
import type { Log } from '../../reconcile/loop.js';
import { outcome, type PreviewOutcome, previewStatement } from './run.js';

const QUERY_APPROVALS = resource(QUERY_APPROVAL_PLURAL);

export type ApprovalObject = StoredObject<ApprovalStatus> & { spec: ApprovalRequest };

/**
 * What a preview pass did: wrote status.impact (its own watch event follows),
 * found another pass's preview still running (look again after recheckInMs),
 * or had nothing to do.
 */
export type PreviewStep = { kind: 'changed' } | { kind: 'running'; recheckInMs: number } | { kind: 'none' };

/**
 * A Running claim older than this was left by an operator that stopped
 * mid-preview: a preview ends within its statement timeout (at most 1m) plus
 * connecting, so nobody is still running it.
 */
export const ABANDONED_AFTER_MS = 5 * 60_000;

export interface PreviewerOptions {
  clients: KubeClients;
  log: Log;
  /** Per finished preview, by result (metrics). */
  onPreview?: (result: Impact['result']) => void;
  now?: () => number;
}

/**
 * The impact preview of pending QueryApprovals whose policy (same namespace,
 * spec.approval.impactPreview.enabled) asks for one. At most once per
 * approval, whatever happens: the preview is first claimed by writing
 * status.impact Running on condition that the object did not change since it
 * was read (no other pass, no other replica, no decision in between), and
 * only then run; its outcome replaces the claim. A preview that times out or
 * fails is recorded, never retried.
 */
export class ImpactPreviewer {
  readonly #o: PreviewerOptions;

  constructor(options: PreviewerOptions) {
    this.#o = options;
  }

  async preview(approval: ApprovalObject): Promise<PreviewStep> {
    const { status, spec, metadata } = approval;
    if (status?.phase !== 'Pending') return { kind: 'none' };
    if (status.impact?.result === 'Running') return this.#running(approval, status.impact);
    const now = (this.#o.now ?? Date.now)();
    // Expired but not marked yet: nobody can approve it any more.
    if (status.impact !== undefined || Date.parse(spec.expiresAt) <= now) return { kind: 'none' };
    const policy = await getObject(
      this.#o.clients,
      AGENT_ACCESS_POLICIES,
      metadata.namespace,
      spec.policy.name,
    );
    const policySpec = policy?.spec as AgentAccessPolicySpec | undefined;
    const settings = policySpec?.approval?.impactPreview;
    if (!policySpec || !settings?.enabled) return { kind: 'none' };
    const at = new Date(now).toISOString();
    const claim: Impact = { ...outcome('Running'), at };
    try {
      await setStatusField(this.#o.clients, QUERY_APPROVALS, metadata, '/status/impact', claim);
    } catch (error) {
      // Changed since it was read: the change's own watch event brings it back.
      if (apiStatus(error) === 409) return { kind: 'none' };
      throw error;
    }
    const timeoutMs = parseDurationMs(settings.statementTimeout ?? '5s') ?? 5000;
    const result = await this.#run(approval, policySpec.connection, timeoutMs);
    const impact: Impact = { ...result, at };
    // Unconditional: someone may have decided meanwhile, and the preview still happened.
    const { namespace, name } = metadata;
    await setStatusField(this.#o.clients, QUERY_APPROVALS, { namespace, name }, '/status/impact', impact);
    this.#o.onPreview?.(impact.result);
    this.#o.log('impact-previewed', {
      approval: `${metadata.namespace}/${metadata.name}`,
      result: impact.result,
      rowsAffected: impact.rowsAffected,
      planRows: impact.planRows,
      durationMs: impact.durationMs,
      error: impact.error,
    });
    return { kind: 'changed' };
  }

  /** Another pass's claim: wait for its outcome, or, once it is clearly abandoned, record that and move on. */
  async #running(approval: ApprovalObject, claim: Impact): Promise<PreviewStep> {
    const ageMs = (this.#o.now ?? Date.now)() - Date.parse(claim.at);
    if (ageMs < ABANDONED_AFTER_MS) return { kind: 'running', recheckInMs: ABANDONED_AFTER_MS - ageMs };
    const impact: Impact = {
      ...outcome('Failed', {
        error: `no outcome ${Math.round(ageMs / 1000)} s after the preview started: the operator stopped during it; a preview is not retried`,
      }),
      at: claim.at,
    };
    try {
      await setStatusField(this.#o.clients, QUERY_APPROVALS, approval.metadata, '/status/impact', impact);
    } catch (error) {
      if (apiStatus(error) === 409) return { kind: 'none' };
      throw error;
    }
    this.#o.onPreview?.('Failed');
    this.#o.log('impact-preview-abandoned', {
      approval: `${approval.metadata.namespace}/${approval.metadata.name}`,
      ageMs,
    });
    return { kind: 'changed' };
  }

  async #run(
    approval: ApprovalObject,
    connectionName: string | undefined,
    timeoutMs: number,
  ): Promise<PreviewOutcome> {
    const { namespace } = approval.metadata;
    if (!connectionName) return failed(`policy ${approval.spec.policy.name} names no DatabaseConnection`);
    const connection = await getObject(this.#o.clients, DATABASE_CONNECTIONS, namespace, connectionName);
    const spec = DatabaseConnectionSpecSchema.safeParse(connection?.spec);
    if (!spec.success)
      return failed(`DatabaseConnection ${namespace}/${connectionName} not found or not valid`);
    const read = await readCredentials(this.#o.clients, namespace, spec.data);
    if (!read.ok) return failed(read.message);
    if (read.mode === 'dynamic') {
      // Those credentials are the role that creates agents' roles: far more than the agent may do.
      return outcome('Refused', {
        error: `DatabaseConnection ${namespace}/${connectionName} has dynamic credentials; a preview runs only as a static role, the one agents use`,
      });
    }
    let client: Awaited<ReturnType<typeof connectDatabase>>['client'] | undefined;
    try {
      const target = databaseTarget(spec.data, read.credentials);
      // The client's per-query timeout is the connect timeout: it must not cut the statement timeout short.
      target.connectTimeoutMs = Math.max(target.connectTimeoutMs, timeoutMs + 5000);
      ({ client } = await connectDatabase(target, 'pgwarden-impact-preview'));
      return await previewStatement(client, approval.spec.statement, timeoutMs);
    } catch (error) {
      return failed(`could not connect to ${spec.data.host}:${spec.data.port}: ${(error as Error).message}`);
    } finally {
      await client?.end().catch(() => undefined);
    }
  }
}

const failed = (error: string): PreviewOutcome => outcome('Failed', { error });
