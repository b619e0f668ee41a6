import { type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import {
  type ApprovalStatus,
  type NotificationChannel,
  type NotificationEvent,
  type NotificationsConfig,
  parseDurationMs,
  QUERY_APPROVAL_PLURAL,
} from '@pgwarden/crds';
import { type KubeClients, resource } from '../../kube/clients.js';
import { getObject } from '../../kube/objects.js';
import { keepWatching } from '../../kube/watch.js';
import { type LoopOptions, type Outcome, objectKey, ReconcileLoop } from '../../reconcile/loop.js';
import type { ApprovalObject, ImpactPreviewer } from '../preview/previewer.js';
import { type PostedSlackMessage, sendToChannel } from './channels.js';
import type { DeliveryOutcome } from './deliver.js';
import { approvalNotification, phaseOf, phaseReachedAt } from './payload.js';
import type { SecretReader } from './secrets.js';

const QUERY_APPROVALS = resource(QUERY_APPROVAL_PLURAL);

export interface ApprovalEventsOptions extends LoopOptions {
  clients: KubeClients;
  /** Null: no channels; the controller still runs previews. */
  notifications: NotificationsConfig | null;
  readSecret: SecretReader;
  previewer: ImpactPreviewer;
  /** Per delivery (metrics). */
  onDelivery?: (channel: string, outcome: DeliveryOutcome) => void;
  now?: () => number;
}

/**
 * Reacts to QueryApprovals (all namespaces, on the leader): a pending one is
 * first previewed when its policy asks for it, so the notification that
 * follows carries the impact; then every phase an approval reaches is sent
 * once to each channel that wants it. Deliveries run in the background (a
 * receiver that is down must not hold up other approvals) and are cut short
 * at stop. What was sent is remembered in memory only: a new leader sends
 * again the events younger than maxEventAge, with the same idempotency key.
 */
export class ApprovalEventsController {
  readonly #o: ApprovalEventsOptions;
  readonly #loop: ReconcileLoop;
  readonly #informer;
  readonly #watch: { stop(): Promise<void> };
  /** namespace/name → the phases handled: true when announced, false when found too old to send. */
  readonly #sent = new Map<string, Map<string, boolean>>();
  readonly #inFlight = new Set<Promise<void>>();
  /** namespace/name → channel → the Slack message posted for its Pending event. */
  readonly #posted = new Map<string, Map<string, PostedSlackMessage>>();
  readonly #abort = new AbortController();

  constructor(options: ApprovalEventsOptions) {
    this.#o = options;
    this.#loop = new ReconcileLoop(
      'queryapproval-events',
      (namespace, name) => this.#reconcile(namespace, name),
      options,
    );
    const { config, custom } = options.clients;
    this.#informer = makeInformer<KubernetesObject>(
      config,
      `/apis/${QUERY_APPROVALS.group}/${QUERY_APPROVALS.version}/${QUERY_APPROVALS.plural}`,
      () => custom.listClusterCustomObject(QUERY_APPROVALS) as never,
    );
    // Status changes are the events here (decisions, runs): every update counts, not only new generations.
    const changed = (object: KubernetesObject) =>
      this.#loop.add(object.metadata?.namespace ?? '', object.metadata?.name ?? '');
    this.#informer.on('add', changed);
    this.#informer.on('update', changed);
    this.#informer.on('delete', (object) => {
      const { namespace = '', name = '' } = object.metadata ?? {};
      const key = objectKey(namespace, name);
      // Deleted while pending: its agent gave up (the approval API withdraws the request). Those who
      // were told it waits are told it no longer does.
      const last = object as unknown as ApprovalObject;
      if (last.status?.phase === 'Pending' && this.#sent.get(key)?.get('Pending'))
        this.#deliver(last, 'Withdrawn');
      this.#sent.delete(key);
      this.#posted.delete(key);
      this.#loop.forget(namespace, name);
    });
    this.#watch = keepWatching(this.#informer, (error, retryInMs) =>
      this.#loop.log('watch-error', { resource: QUERY_APPROVAL_PLURAL, retryInMs, error: String(error) }),
    );
  }

  async start(): Promise<void> {
    await this.#informer.start();
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
    await this.#loop.stop();
    this.#abort.abort();
    await Promise.all(this.#inFlight);
  }

  async #reconcile(namespace: string, name: string): Promise<Outcome> {
    const approval = (await getObject<ApprovalStatus>(this.#o.clients, QUERY_APPROVALS, namespace, name)) as
      | ApprovalObject
      | undefined;
    // No status yet: the operator writes it right after creating the object, and that write is the next event.
    if (!approval?.status) return { kind: 'forget' };
    // The preview's own writes are events too: the notification goes out on the pass they trigger.
    const preview = await this.#o.previewer.preview(approval);
    if (preview.kind === 'changed') return { kind: 'forget' };
    // Another process's preview: the Pending notification waits for its outcome.
    if (preview.kind === 'running') return { kind: 'requeue', afterMs: preview.recheckInMs };
    this.#notify(approval);
    return { kind: 'forget' };
  }

  #notify(approval: ApprovalObject): void {
    const key = objectKey(approval.metadata.namespace, approval.metadata.name);
    const phase = phaseOf(approval);
    const sent = this.#sent.get(key) ?? new Map<string, boolean>();
    this.#sent.set(key, sent);
    if (sent.has(phase)) return;
    const config = this.#o.notifications;
    const ageMs = (this.#o.now ?? Date.now)() - phaseReachedAt(approval);
    const fresh = ageMs <= (parseDurationMs(config?.maxEventAge ?? '10m') ?? 600_000);
    sent.set(phase, config !== null && fresh);
    if (!config) return;
    if (!fresh) {
      this.#loop.log('notification-skipped-old', { approval: key, phase, ageMs });
      return;
    }
    this.#deliver(approval, phase);
  }

  /**
   * Sends one event to every channel that wants it, in the background. A Slack
   * message this process posted for the approval is updated with every later
   * event, whether or not the channel wants it as a message of its own, so
   * buttons never outlive the request.
   */
  #deliver(approval: ApprovalObject, event: NotificationEvent): void {
    const config = this.#o.notifications;
    if (!config) return;
    const key = objectKey(approval.metadata.namespace, approval.metadata.name);
    const notification = approvalNotification(approval, event);
    const posted = this.#posted.get(key) ?? new Map<string, PostedSlackMessage>();
    this.#posted.set(key, posted);
    for (const channel of config.channels) {
      const earlier = event === 'Pending' ? undefined : posted.get(channel.name);
      if (!earlier && !wants(channel, approval, event)) continue;
      const delivery = sendToChannel(
        channel,
        notification,
        { readSecret: this.#o.readSecret, signal: this.#abort.signal, now: this.#o.now ?? Date.now },
        earlier,
      ).then((outcome) => {
        if (outcome.posted) posted.set(channel.name, outcome.posted);
        this.#o.onDelivery?.(channel.name, outcome);
        this.#loop.log(outcome.result === 'delivered' ? 'notification-delivered' : 'notification-failed', {
          channel: channel.name,
          approval: key,
          event,
          result: outcome.result,
          attempts: outcome.attempts,
          status: outcome.status,
          error: outcome.error,
        });
      });
      this.#inFlight.add(delivery);
      void delivery.finally(() => this.#inFlight.delete(delivery));
    }
  }
}

function wants(channel: NotificationChannel, approval: ApprovalObject, event: NotificationEvent): boolean {
  return (
    channel.phases.includes(event) &&
    (channel.namespaces === undefined || channel.namespaces.includes(approval.metadata.namespace))
  );
}
