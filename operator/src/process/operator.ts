import { CoordinationV1Api } from '@kubernetes/client-node';
import { APPROVAL_API_PATH, GRANT_API_PATH } from '@pgwarden/crds';
import type { Logger } from 'pino';
import { AgentAccessPolicyController } from '../agent-access-policy/controller.js';
import { AGENT_ACCESS_POLICIES } from '../agent-access-policy/reconcile.js';
import { ApprovalApi } from '../approval/approval-api.js';
import { ApprovalObjects } from '../approval/approval-objects.js';
import { ApprovalExpiryController } from '../approval/expiry-controller.js';
import { ApprovalEvents } from '../approval/notify/approval-events.js';
import { policyApproval } from '../approval/policy-settings.js';
import { DynamicRoles } from '../credentials/dynamic-roles.js';
import { GrantRoles } from '../credentials/grant-roles.js';
import { DatabaseConnectionController } from '../database-connection/controller.js';
import { GrantChanges } from '../grant/changes.js';
import { GrantApi } from '../grant/grant-api.js';
import { podIdentityApi, TokenReviewBudget } from '../grant/pod-identity.js';
import { Revocations } from '../grant/revocations.js';
import { kubeGrantSources } from '../grant/sources.js';
import { type KubeClients, kubeClients } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';
import { SecretWatch } from '../kube/secret-watch.js';
import { LeaderElector } from '../leader/elector.js';
import type { Log } from '../reconcile/loop.js';
import { startWebhook } from '../webhook/webhook.js';
import { serveAdmin } from './admin.js';
import type { OperatorConfig } from './config.js';
import { type OperatorMetrics, operatorMetrics } from './metrics.js';

interface Controller {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The operator process: admin endpoints, the pod webhook and the grant API on
 * every replica, the controllers only on the replica that holds the Lease.
 * Shutdown stops the controllers (running passes finish), hands the Lease
 * back, answers held grant requests and closes the servers, in that order.
 */
export class Operator {
  readonly #config: OperatorConfig;
  readonly #logger: Logger;
  readonly #metrics: OperatorMetrics = operatorMetrics();
  readonly #clients: KubeClients;
  /** Metadata of the Secrets the operator may read: the connection controller and the grant change feed share it. */
  readonly #secrets: SecretWatch;
  /** Per-grant database roles: issued by the grant API, swept by the DatabaseConnection controller. */
  readonly #roles: DynamicRoles;
  #elector: LeaderElector | undefined;
  #controllers: Controller[] = [];
  #synced = false;
  #shuttingDown = false;
  #closeAdmin: (() => Promise<void>) | undefined;
  #webhook: { ready(): boolean; grantCaPem(): string; close(): Promise<void> } | undefined;
  #grants: { api: GrantApi; changes: GrantChanges } | undefined;
  #approvalEvents: ApprovalEvents | undefined;
  readonly #approvalObjects: ApprovalObjects;
  /** One budget of failed TokenReviews per caller address, for both sidecar-facing APIs. */
  readonly #reviewBudget = new TokenReviewBudget();
  #approvals: ApprovalApi | undefined;

  constructor(config: OperatorConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#clients = kubeClients(config.kubeconfig, config.secretNamespaces);
    this.#secrets = new SecretWatch(this.#clients, this.#log('secrets'));
    this.#approvalObjects = new ApprovalObjects(this.#clients);
    this.#roles = new DynamicRoles({ log: this.#log('dynamic-roles') });
  }

  async start(): Promise<void> {
    const admin = await serveAdmin(this.#config.adminListen, this.#metrics.registry, {
      live: () => !this.#shuttingDown,
      ready: () =>
        !this.#shuttingDown &&
        (this.#config.webhookListen === null || this.#webhook?.ready() === true) &&
        (!this.#elector?.leading || this.#synced),
    });
    this.#closeAdmin = admin.close;
    this.#logger.info({ address: admin.address }, 'admin endpoints listening');
    this.#approvalEvents = await ApprovalEvents.load({
      clients: this.#clients,
      notificationsFile: this.#config.notifications,
      namespace: this.#config.namespace,
      registry: this.#metrics.registry,
      log: (component) => this.#log(component),
    });
    await this.#secrets.start();
    if (this.#config.webhookListen) {
      const grants = this.#grantApi();
      await grants.changes.start();
      this.#grants = grants;
      this.#webhook = await startWebhook(
        this.#config,
        this.#config.webhookListen,
        this.#clients,
        this.#metrics,
        this.#log('webhook'),
        {
          [GRANT_API_PATH]: grants.api.handler,
          [APPROVAL_API_PATH]: this.#approvalApi().handler,
          ...this.#approvalEvents.handlers(),
        },
      );
    }
    if (!this.#config.leaderElect) {
      await this.#startControllers();
      return;
    }
    const { namespace, leaseName, identity, leaseDuration, renewDeadline, retryPeriod } = this.#config;
    this.#elector = new LeaderElector({
      coordination: this.#clients.config.makeApiClient(CoordinationV1Api),
      namespace,
      name: leaseName,
      identity,
      leaseDurationMs: leaseDuration,
      renewDeadlineMs: renewDeadline,
      retryPeriodMs: retryPeriod,
      onStartedLeading: () => this.#startControllers(),
      onStoppedLeading: () => this.#stopControllers(),
      log: this.#log('leader'),
    });
    this.#elector.start();
    this.#logger.info({ identity, lease: `${namespace}/${leaseName}` }, 'campaigning for the leader lease');
  }

  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#logger.info('shutting down');
    if (this.#elector) await this.#elector.stop();
    else await this.#stopControllers();
    this.#grants?.api.close();
    this.#approvals?.close();
    await this.#webhook?.close();
    await this.#grants?.changes.stop();
    await this.#secrets.stop();
    await this.#closeAdmin?.();
    this.#logger.info('shut down');
  }

  async #startControllers(): Promise<void> {
    this.#metrics.leader.set(1);
    this.#metrics.leaderTransitions.inc({ to: 'leading' });
    const common = (controller: string) => ({
      clients: this.#clients,
      resyncMs: this.#config.resync,
      log: this.#log(controller),
      onPass: (result: 'success' | 'error', ms: number) => {
        this.#metrics.reconciles.inc({ controller, result });
        this.#metrics.reconcileSeconds.observe({ controller }, ms / 1000);
      },
    });
    const expiry = new ApprovalExpiryController({
      ...common('queryapproval-expiry'),
      objects: this.#approvalObjects,
      retentionMs: this.#config.approvalRetention,
    });
    this.#controllers = [
      new DatabaseConnectionController({
        ...common('databaseconnection'),
        roles: this.#roles,
        secrets: this.#secrets,
      }),
      new AgentAccessPolicyController(common('agentaccesspolicy')),
      ...(this.#approvalEvents ? [this.#approvalEvents.controller(common('queryapproval-events'))] : []),
      expiry,
    ];
    await Promise.all(this.#controllers.map((c) => c.start()));
    this.#metrics.reportPendingApprovals(() => expiry.pendingByNamespace());
    this.#synced = true;
    this.#logger.info('controllers started');
  }

  async #stopControllers(): Promise<void> {
    const controllers = this.#controllers;
    this.#controllers = [];
    this.#synced = false;
    this.#metrics.reportPendingApprovals(undefined);
    await Promise.all(controllers.map((c) => c.stop()));
    this.#metrics.leader.set(0);
    if (controllers.length > 0) {
      this.#metrics.leaderTransitions.inc({ to: 'standby' });
      this.#logger.info('controllers stopped');
    }
  }

  #grantApi(): { api: GrantApi; changes: GrantChanges } {
    const roles = new GrantRoles(this.#clients, this.#roles, this.#log('dynamic-roles'));
    const identity = this.#podIdentity();
    const sources = kubeGrantSources(this.#clients);
    // Deleted policies and pods, edited policies and relabelled pods end dynamic roles even when no sidecar asks.
    const revocations = new Revocations({
      revoke: (namespace, match) => roles.revokeMatching(namespace, match),
      getPolicy: (namespace, name) => getObject(this.#clients, AGENT_ACCESS_POLICIES, namespace, name),
      listPods: async (namespace) => (await this.#clients.core.listNamespacedPod({ namespace })).items,
      getPod: (namespace, name) => identity.readPod(namespace, name),
      listPolicies: (namespace) => sources.listPolicies(namespace),
      isLeader: () => this.#controllers.length > 0,
      log: this.#log('dynamic-roles'),
    });
    const changes = new GrantChanges(this.#clients, this.#secrets, this.#log('grant'), revocations);
    const api = new GrantApi({
      identity,
      reviewBudget: this.#reviewBudget,
      sources,
      changes,
      ttlMs: this.#config.grantTtl,
      rateLimit: { perMinute: this.#config.grantRateLimit, burst: this.#config.grantRateBurst },
      dynamicRoles: roles,
      // A revoked pod's dynamic roles are dropped now (ending their sessions), not at the next sweep.
      onRevoked: async ({ subject }) => {
        await roles.revoke(subject);
      },
      metrics: this.#metrics,
      log: this.#log('grant'),
    });
    return { api, changes };
  }

  /** The sidecar-facing approval API: held statements as QueryApprovals (served by every replica). */
  #approvalApi(): ApprovalApi {
    this.#approvals = new ApprovalApi({
      identity: this.#podIdentity(),
      reviewBudget: this.#reviewBudget,
      objects: this.#approvalObjects,
      settings: (namespace, policy, pod) => policyApproval(this.#clients, namespace, policy, pod),
      log: this.#log('approvals'),
      calls: this.#metrics.approvalCalls,
    });
    return this.#approvals;
  }

  /** Callers of the grant and approval APIs, checked against the sidecar this operator injects. */
  #podIdentity() {
    return podIdentityApi(this.#clients, () => ({
      image: this.#config.sidecarImage,
      grantUrl: this.#config.sidecarGrantUrl,
      grantCaPem: this.#webhook?.grantCaPem() ?? '',
    }));
  }

  #log(component: string): Log {
    const child = this.#logger.child({ component });
    return (event, fields) => {
      const level = /error|failed/.test(event) ? 'warn' : 'info';
      child[level](fields, event);
    };
  }
}
