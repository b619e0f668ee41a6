import { type NotificationsConfig, SLACK_INTERACTIONS_PATH, type SlackChannel } from '@pgwarden/crds';
import type { Registry } from 'prom-client';
import type { KubeClients } from '../../kube/clients.js';
import type { Log, LoopOptions } from '../../reconcile/loop.js';
import type { HttpHandler } from '../../webhook/admission.js';
import { ImpactPreviewer } from '../preview/previewer.js';
import { loadNotificationsConfig } from './config.js';
import { ApprovalEventsController } from './controller.js';
import { type ApprovalEventMetrics, approvalEventMetrics } from './metrics.js';
import { type SecretReader, secretReader } from './secrets.js';
import { slackDecider } from './slack-decision.js';
import { slackInteractionsHandler } from './slack-interactions.js';

export interface ApprovalEventsSettings {
  clients: KubeClients;
  /** The --notifications file; undefined: no channels (previews still run). */
  notificationsFile: string | undefined;
  /** The operator's namespace: where the channels' Secrets are. */
  namespace: string;
  registry: Registry;
  log: (component: string) => Log;
}

/**
 * What the operator runs for approval events: on every replica the Slack
 * interaction endpoint (the HTTPS listener is on every replica), on the leader
 * the controller that previews and notifies. One instance per process, so
 * the metrics are registered once across leader changes.
 */
export class ApprovalEvents {
  readonly #settings: ApprovalEventsSettings;
  readonly #config: NotificationsConfig | null;
  readonly #metrics: ApprovalEventMetrics;
  readonly #readSecret: SecretReader;

  private constructor(settings: ApprovalEventsSettings, config: NotificationsConfig | null) {
    this.#settings = settings;
    this.#config = config;
    this.#metrics = approvalEventMetrics(settings.registry);
    this.#readSecret = secretReader(settings.clients.core, settings.namespace);
  }

  /** Reads the notifications file; a missing or invalid file throws, which stops the operator at start. */
  static async load(settings: ApprovalEventsSettings): Promise<ApprovalEvents> {
    const config = settings.notificationsFile
      ? await loadNotificationsConfig(settings.notificationsFile)
      : null;
    settings.log('notifications')('notifications-configured', {
      file: settings.notificationsFile ?? null,
      channels: config?.channels.map((c) => `${c.type}/${c.name}`) ?? [],
    });
    return new ApprovalEvents(settings, config);
  }

  /** Handlers for the HTTPS listener, by path prefix: the Slack interaction endpoint when a Slack channel is configured. */
  handlers(): Record<string, HttpHandler> {
    const slack = (this.#config?.channels ?? []).filter((c): c is SlackChannel => c.type === 'slack');
    if (slack.length === 0) return {};
    const log = this.#settings.log('slack');
    const handler = slackInteractionsHandler({
      channels: new Map(slack.map((c) => [c.name, c])),
      readSecret: this.#readSecret,
      decide: slackDecider(this.#settings.clients),
      respond: async (url, message) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(message),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) throw new Error(`response_url answered HTTP ${response.status}`);
      },
      count: (channel, result) => this.#metrics.slackInteractions.inc({ channel, result }),
      log,
    });
    return { [SLACK_INTERACTIONS_PATH]: handler };
  }

  /** The leader's controller; a new one per term. */
  controller(loop: LoopOptions): ApprovalEventsController {
    const log = this.#settings.log('queryapproval-events');
    return new ApprovalEventsController({
      ...loop,
      clients: this.#settings.clients,
      notifications: this.#config,
      readSecret: this.#readSecret,
      previewer: new ImpactPreviewer({
        clients: this.#settings.clients,
        log,
        onPreview: (result) => this.#metrics.impactPreviews.inc({ result }),
      }),
      onDelivery: (channel, outcome) => this.#metrics.notifications.inc({ channel, result: outcome.result }),
    });
  }
}
