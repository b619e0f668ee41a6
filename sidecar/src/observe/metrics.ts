import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RecorderStats } from '../record/recorder.js';
import { codeChar } from '../wire/codes.js';

/**
 * Per-message counts live in plain typed arrays on the hot path and are copied
 * into prom-client only when /metrics is scraped, so counting costs one
 * array increment per message.
 */
export class WireCounters {
  readonly messages = new Float64Array(256);
  bytes = 0;

  count(code: number): void {
    this.messages[code] = (this.messages[code] as number) + 1;
  }
}

/** The grant client's metrics (grant mode only). */
export interface GrantMetrics {
  /** Grant API requests by result: granted, refused, rate_limited, unavailable, invalid_answer, failed. */
  requests: Counter<'result'>;
  /** Ends of access: a revoking refusal's reason, or expired. */
  revocations: Counter<'reason'>;
  /** Unix time the held grant expires; 0 without one. */
  expiresAt: Gauge;
  /** 1 while the sidecar holds an unexpired grant. */
  valid: Gauge;
  /** Sessions a new policy reached at an idle point: moved to it (applied) or ended (it could not move). */
  retargets: Counter<'outcome'>;
  /** Sessions ended because access ended, by cause (revoked, expired, unenforceable). */
  sessionsEnded: Counter<'cause'>;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly fromClient = new WireCounters();
  readonly fromUpstream = new WireCounters();
  readonly connectionsActive: Gauge;
  readonly connectionsTotal: Counter<'outcome'>;
  readonly upstreamErrors: Counter<'kind'>;
  readonly protocolErrors: Counter<'kind'>;
  readonly cancelRequests: Counter<'outcome'>;
  readonly decisions: Counter<'outcome' | 'rule'>;
  readonly overhead: Histogram;
  /** Result rows masking rewrote; a plain number on the hot path, read when scraped. */
  readonly maskedRows = { count: 0 };
  readonly maskingCatalogRefreshes: Counter<'outcome'>;
  readonly maskingCatalogSeconds: Histogram;
  readonly maskedRelations: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pgwarden_' });
    this.connectionsActive = new Gauge({
      name: 'pgwarden_client_connections',
      help: 'Client connections currently open through the proxy.',
      registers,
    });
    this.connectionsTotal = new Counter({
      name: 'pgwarden_client_connections_total',
      help: 'Client connections accepted, by how they ended (ok, refused, auth_failed, upstream_error, protocol_error).',
      labelNames: ['outcome'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'pgwarden_upstream_errors_total',
      help: 'Failures talking to the upstream server, by kind (connect, tls, auth, lost).',
      labelNames: ['kind'],
      registers,
    });
    this.protocolErrors = new Counter({
      name: 'pgwarden_protocol_errors_total',
      help: 'Client connections closed for breaking the wire protocol, by kind (malformed, oversize).',
      labelNames: ['kind'],
      registers,
    });
    this.cancelRequests = new Counter({
      name: 'pgwarden_cancel_requests_total',
      help: 'CancelRequests received, by outcome (forwarded, unknown_key, failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.decisions = new Counter({
      name: 'pgwarden_decisions_total',
      help: 'Client messages decided by the policy, by outcome (allow, deny, approve) and the rule that decided.',
      labelNames: ['outcome', 'rule'],
      registers,
    });
    this.overhead = new Histogram({
      name: 'pgwarden_proxy_overhead_seconds',
      help: 'CPU time the proxy spent on one request cycle (client message to ReadyForQuery), excluding time waiting on the upstream.',
      buckets: [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025],
      registers,
    });
    const maskedRows = this.maskedRows;
    new Counter({
      name: 'pgwarden_masked_rows_total',
      help: 'Result rows (DataRow, COPY rows) in which masking changed at least one value.',
      registers,
      collect() {
        this.reset();
        this.inc(maskedRows.count);
      },
    });
    this.maskingCatalogRefreshes = new Counter({
      name: 'pgwarden_masking_catalog_refreshes_total',
      help: 'Reads of the masked columns from the database catalog, by outcome (ok, failed); a failure ends the sessions waiting on it.',
      labelNames: ['outcome'],
      registers,
    });
    this.maskingCatalogSeconds = new Histogram({
      name: 'pgwarden_masking_catalog_refresh_seconds',
      help: 'Time to read the masked columns (rules, labels, partitions, view lineage) from the catalog.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.maskedRelations = new Gauge({
      name: 'pgwarden_masked_relations',
      help: 'Tables, views and materialized views with masked columns in the current catalog snapshot.',
      registers,
    });
    this.wireCounter(
      'pgwarden_client_messages_total',
      'Protocol messages received from clients, by message type.',
      this.fromClient,
    );
    this.wireCounter(
      'pgwarden_upstream_messages_total',
      'Protocol messages received from the upstream, by message type.',
      this.fromUpstream,
    );
    this.bytesCounter(
      'pgwarden_client_received_bytes_total',
      'Bytes received from clients.',
      this.fromClient,
    );
    this.bytesCounter(
      'pgwarden_upstream_received_bytes_total',
      'Bytes received from the upstream.',
      this.fromUpstream,
    );
  }

  /**
   * The recorder's metrics, registered when the policy records. Each is read
   * from `stats` when /metrics is scraped: recording adds nothing per event.
   */
  observeRecorder(stats: () => RecorderStats): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: (s: RecorderStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(stats()));
        },
      });
    const counter = (
      name: string,
      help: string,
      label: string,
      read: (s: RecorderStats) => Readonly<Record<string, number>>,
    ) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, n] of Object.entries(read(stats()))) this.inc({ [label]: value }, n);
        },
      });
    gauge(
      'pgwarden_recording_spool_bytes',
      "Bytes of recording chunks in the spool, written and fsync'd but not yet confirmed by the sink.",
      (s) => s.spoolBytes,
    );
    gauge(
      'pgwarden_recording_spool_capacity_bytes',
      'The spool cap (spec.recording.spoolCap); at it, statements are refused (failClosed) or events wait in memory.',
      (s) => s.spoolCapBytes,
    );
    gauge(
      'pgwarden_recording_spool_chunks',
      'Recording chunks in the spool waiting to be shipped to the sink.',
      (s) => s.spoolChunks,
    );
    gauge(
      'pgwarden_recording_oldest_unshipped_chunk_age_seconds',
      'Age of the oldest chunk still in the spool; 0 when everything has shipped.',
      (s) => s.oldestChunkAgeSeconds,
    );
    gauge('pgwarden_recording_sessions', 'Client sessions being recorded now.', (s) => s.openSessions);
    counter(
      'pgwarden_recording_chunks_shipped_total',
      'Recording chunks the sink confirmed (and the spool then deleted), by sink type.',
      'sink',
      (s) => ({ [s.sink]: s.shippedChunks }),
    );
    counter(
      'pgwarden_recording_shipped_bytes_total',
      'Bytes of recording chunks the sink confirmed, by sink type.',
      'sink',
      (s) => ({ [s.sink]: s.shippedBytes }),
    );
    counter(
      'pgwarden_recording_ship_failures_total',
      'Attempts to ship a chunk that failed (each is retried with backoff), by sink type.',
      'sink',
      (s) => ({ [s.sink]: s.failures }),
    );
    counter(
      'pgwarden_recording_refused_statements_total',
      'Statements refused because the recording could not take them, by cause (spool-full, write-failed, overload, closed, invalid-session).',
      'cause',
      (s) => s.refusedStatements,
    );
    counter(
      'pgwarden_recording_dropped_events_total',
      'Recording events not recorded (gap events mark them), by reason: spool-full (failClosed off) or overload.',
      'reason',
      (s) => s.droppedEvents,
    );
  }

  /** Registers the grant metrics; called once, in grant mode. */
  observeGrant(): GrantMetrics {
    const registers = [this.registry];
    return {
      requests: new Counter({
        name: 'pgwarden_grant_requests_total',
        help: 'Requests to the operator grant API, by result (granted, refused, rate_limited, unavailable, invalid_answer, failed).',
        labelNames: ['result'],
        registers,
      }),
      revocations: new Counter({
        name: 'pgwarden_grant_revocations_total',
        help: 'Times access ended, by reason: the operator refusal reason (no-policy, pod-gone, …) or expired (no renewal before expiresAt).',
        labelNames: ['reason'],
        registers,
      }),
      expiresAt: new Gauge({
        name: 'pgwarden_grant_expires_at_seconds',
        help: 'Unix time at which the held grant expires; 0 when the sidecar holds none.',
        registers,
      }),
      valid: new Gauge({
        name: 'pgwarden_grant_valid',
        help: '1 while the sidecar holds an unexpired grant, else 0 (new connections are refused).',
        registers,
      }),
      retargets: new Counter({
        name: 'pgwarden_grant_session_retargets_total',
        help: 'Open sessions reached by a policy change at an idle point, by outcome: applied (moved to the new policy) or ended (could not move; the client must reconnect).',
        labelNames: ['outcome'],
        registers,
      }),
      sessionsEnded: new Counter({
        name: 'pgwarden_grant_sessions_ended_total',
        help: 'Open sessions ended with FATAL 28000 because access ended, by cause (revoked, expired, unenforceable).',
        labelNames: ['cause'],
        registers,
      }),
    };
  }

  /** Registers the OIDC token counter; called once, in standalone OIDC mode. */
  observeOidc(): Counter<'result'> {
    return new Counter({
      name: 'pgwarden_oidc_tokens_total',
      help: 'OIDC mode: client tokens by result: accepted, refused (missing, invalid, expired, wrong audience or issuer), unmatched (no rule admits the claims), unavailable (the issuer’s keys could not be read).',
      labelNames: ['result'],
      registers: [this.registry],
    });
  }

  private wireCounter(name: string, help: string, counters: WireCounters): void {
    new Counter({
      name,
      help,
      labelNames: ['type'],
      registers: [this.registry],
      collect() {
        this.reset();
        counters.messages.forEach((n, code) => {
          if (n > 0) this.inc({ type: codeChar(code) }, n);
        });
      },
    });
  }

  private bytesCounter(name: string, help: string, counters: WireCounters): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(counters.bytes);
      },
    });
  }
}
