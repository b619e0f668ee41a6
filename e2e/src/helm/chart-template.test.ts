import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CHART_DIR,
  find,
  helm,
  parseObjects,
  type RenderedObject,
  renderChart,
  setFlags,
  type ValueSet,
} from './chart.js';
import { readChartCrds, renderChartCrds } from './chart-crds.js';

// helm lint and helm template of charts/pgwarden with the value sets a
// platform team uses; what the API server says of the result is
// chart-install.test.ts.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const digest = `sha256:${'a1'.repeat(32)}`;
const SIDECAR_VALUES: ValueSet = {
  'sidecar.image.pullPolicy': 'Always',
  'sidecar.imagePullSecrets': [{ name: 'regcred' }, { name: 'mirror' }],
  'sidecar.spoolSizeLimit': '3Gi',
  'sidecar.recording': { secretName: 'recording-s3', claimName: 'recordings' },
  'sidecar.logLevel': 'debug',
  'sidecar.logFormat': 'text',
  'operator.logFormat': 'text',
};
const valueSets: Record<string, ValueSet> = {
  defaults: {},
  'HA, 3 replicas': { 'operator.replicas': 3 },
  'single replica': { 'operator.replicas': 1, 'operator.leaderElection.enabled': false },
  'monitoring on': {
    'monitoring.serviceMonitor.enabled': true,
    'monitoring.podMonitor.enabled': true,
    'monitoring.prometheusRule.enabled': true,
  },
  'CRDs not installed': { 'crds.install': false },
  'digests pinned': { 'operator.image.digest': digest, 'sidecar.image.digest': digest },
  'sidecar defaults set': SIDECAR_VALUES,
  'cert-manager': { 'webhook.certMode': 'certManager' },
  'Secrets in listed namespaces only': { 'rbac.secretNamespaces': ['payments', 'analytics'] },
};

type Container = {
  args: string[];
  image: string;
  securityContext: Record<string, unknown>;
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
};
type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: Container[];
  topologySpreadConstraints?: { labelSelector: { matchLabels: Record<string, string> } }[];
};
type Deployment = RenderedObject & {
  spec: { replicas: number; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
};
type Webhooks = RenderedObject & {
  webhooks: {
    failurePolicy: string;
    timeoutSeconds: number;
    namespaceSelector?: { matchExpressions: { key: string; operator: string; values: string[] }[] };
    clientConfig: { service: { name: string; namespace: string; path: string } };
  }[];
};

const deployment = (objects: RenderedObject[]) => find(objects, 'Deployment') as Deployment;
const operatorContainer = (objects: RenderedObject[]) =>
  deployment(objects).spec.template.spec.containers[0] as Container;
/** The value of --name=value among the operator's args. */
const arg = (objects: RenderedObject[], name: string) =>
  operatorContainer(objects)
    .args.find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3);

describe('helm chart: lint and template', () => {
  it.each(Object.entries(valueSets))('helm lint --strict passes: %s', async (_name, values) => {
    const result = await helm(['lint', '--strict', CHART_DIR, ...setFlags(values)]);
    expect(result.stderr + result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('defaults: two replicas with leader election and a PDB, hardened pod, probes, CRDs kept on uninstall', async () => {
    const { objects } = await renderChart();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    process.stdout.write(`defaults render ${objects.length} objects: ${kinds.join(', ')}\n`);
    const d = deployment(objects);
    expect(d.spec.replicas).toBe(2);
    expect(arg(objects, 'leader-elect')).toBe('true');
    expect(find(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const container = operatorContainer(objects);
    expect(container.securityContext).toEqual({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.image).toBe('ghcr.io/pgwarden/operator:0.1.0');
    expect(arg(objects, 'sidecar-image')).toBe('ghcr.io/pgwarden/sidecar:0.1.0');
    // The spread constraint selects exactly the operator's pods.
    const spread = pod.topologySpreadConstraints?.[0]?.labelSelector.matchLabels ?? {};
    expect(Object.keys(spread).length).toBeGreaterThan(0);
    expect(d.spec.template.metadata.labels).toMatchObject(spread);

    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(
      [...renderChartCrds().keys()].map((f) => `${f.replace(/\.yaml$/, '')}.pgwarden.io`).sort(),
    );
    for (const crd of crds) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });

  it('webhooks: the Service the operator names in its certificate, fail-closed pods outside kube-system and its namespace', async () => {
    const { objects } = await renderChart({}, { release: 'pgw', namespace: 'security' });
    const mutating = find(objects, 'MutatingWebhookConfiguration', 'pgw-operator') as Webhooks;
    const validating = find(objects, 'ValidatingWebhookConfiguration', 'pgw-operator') as Webhooks;
    const pods = mutating.webhooks[0];
    expect(pods?.failurePolicy).toBe('Fail');
    expect(validating.webhooks[0]?.failurePolicy).toBe('Ignore');
    expect(pods?.namespaceSelector?.matchExpressions).toContainEqual({
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: ['kube-system', 'security'],
    });
    for (const w of [...mutating.webhooks, ...validating.webhooks]) {
      expect(w.clientConfig.service).toMatchObject({ name: 'pgw-operator', namespace: 'security' });
      expect(w.timeoutSeconds).toBe(5);
    }
    expect(find(objects, 'Service', 'pgw-operator')).toBeDefined();
    // The operator keeps exactly these configurations' caBundle current, and may update no others.
    expect(arg(objects, 'webhook-config-name')).toBe('pgw-operator');
    expect(arg(objects, 'webhook-hosts')?.split(',')).toContain('pgw-operator.security.svc');
    expect(arg(objects, 'sidecar-grant-url')).toBe('https://pgw-operator.security.svc/v1/grants');
    // Decisions on QueryApprovals are checked by the operator, always fail closed.
    const decide = mutating.webhooks.find((w) => w.clientConfig.service.path === '/mutate-queryapprovals');
    expect(decide?.failurePolicy).toBe('Fail');
    const clusterRole = find(objects, 'ClusterRole', 'pgw-operator') as RenderedObject & {
      rules: { resources: string[]; resourceNames?: string[] }[];
    };
    const webhookRule = clusterRole.rules.find((r) => r.resources.includes('mutatingwebhookconfigurations'));
    expect(webhookRule?.resourceNames).toEqual(['pgw-operator']);
    // The approvers' role docs/examples/approvers.yaml binds: named after the release, as the docs name it.
    expect(find(objects, 'ClusterRole', 'pgw-approver')).toBeDefined();

    const strict = await renderChart({
      'webhook.pods.failurePolicy': 'Ignore',
      'webhook.timeoutSeconds': 10,
      'webhook.pods.namespaceSelector': { matchLabels: { team: 'ml' } },
    });
    const changed = find(strict.objects, 'MutatingWebhookConfiguration') as Webhooks;
    expect(changed.webhooks[0]).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 10 });
    expect(changed.webhooks[0]?.namespaceSelector).toMatchObject({ matchLabels: { team: 'ml' } });
  });

  it('HA with 3 replicas spreads them and keeps the PDB; one replica has no PDB (it would block drains)', async () => {
    const ha = await renderChart(valueSets['HA, 3 replicas']);
    expect(deployment(ha.objects).spec.replicas).toBe(3);
    expect(find(ha.objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
    const single = await renderChart(valueSets['single replica']);
    expect(single.objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    expect(arg(single.objects, 'leader-elect')).toBe('false');
  });

  it('monitoring: ServiceMonitor on the metrics Service, PodMonitor on the sidecars, alerts on metrics the code exports', async () => {
    const { objects } = await renderChart(valueSets['monitoring on']);
    const serviceMonitor = find(objects, 'ServiceMonitor') as RenderedObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const metricsService = find(objects, 'Service', 'pgwarden-operator-metrics') as RenderedObject & {
      spec: { ports: { name: string }[] };
    };
    expect(metricsService.metadata.labels).toMatchObject(serviceMonitor.spec.selector.matchLabels);
    // Only the metrics Service: the webhook Service must not match (it serves HTTPS).
    const webhookService = find(objects, 'Service', 'pgwarden-operator');
    expect(webhookService.metadata.labels).not.toMatchObject(serviceMonitor.spec.selector.matchLabels);
    expect(metricsService.spec.ports.map((p) => p.name)).toContain(serviceMonitor.spec.endpoints[0]?.port);
    const podMonitor = find(objects, 'PodMonitor') as RenderedObject & {
      spec: { podMetricsEndpoints: { port: string }[] };
    };
    expect(podMonitor.spec.podMetricsEndpoints[0]?.port).toBe('pgwarden-admin');

    const rule = find(objects, 'PrometheusRule') as RenderedObject & {
      spec: { groups: { rules: { alert: string; expr: string }[] }[] };
    };
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    const exported = exportedMetricNames();
    for (const { alert, expr } of alerts) {
      const used = [...expr.matchAll(/\bpgwarden_[a-z_]+/g)].map((m) => m[0]);
      for (const name of used) expect(exported, `${alert} uses ${name}`).toContain(name);
    }
    process.stdout.write(`alerts: ${alerts.map((a) => a.alert).join(', ')}\n`);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'PgwardenOperatorDown',
        'PgwardenWebhookErrors',
        'PgwardenRecordingBacklog',
        'PgwardenGrantsRefused',
        'PgwardenSidecarWithoutGrant',
        'PgwardenStatementsRefusedUnrecorded',
      ]),
    );
  });

  it('notification channels: a ConfigMap the operator reads with --notifications, a checksum that rolls it on change', async () => {
    const channels = [
      {
        type: 'webhook',
        name: 'audit',
        url: 'https://hooks.example.com/pgwarden',
        hmacSecretRef: { name: 'hooks', key: 'hmac' },
      },
    ];
    const { objects } = await renderChart({ 'notifications.channels': channels });
    const configMap = find(objects, 'ConfigMap', 'pgwarden-operator-notifications') as RenderedObject & {
      data: Record<string, string>;
    };
    expect(parseObjects(configMap.data['channels.yaml'] ?? '')[0]).toEqual({ channels, maxEventAge: '10m' });
    expect(arg(objects, 'notifications')).toBe('/etc/pgwarden/notifications/channels.yaml');
    const checksum = (o: RenderedObject[]) =>
      (deployment(o).spec.template as { metadata: { annotations?: Record<string, string> } }).metadata
        .annotations?.['checksum/notifications'];
    const changed = await renderChart({ 'notifications.channels': [{ ...channels[0], name: 'audit-2' }] });
    expect(checksum(changed.objects)).not.toBe(checksum(objects));
    const none = await renderChart();
    expect(arg(none.objects, 'notifications')).toBeUndefined();
    expect(none.objects.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
  });

  it('crds.install=false leaves the CRDs out; crds.keep=false drops the keep annotation', async () => {
    const off = await renderChart(valueSets['CRDs not installed']);
    expect(off.objects.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    const unkept = await renderChart({ 'crds.keep': false });
    for (const crd of unkept.objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
      expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    }
  });

  it('a digest pins both images, over the tag', async () => {
    const { objects } = await renderChart({ ...valueSets['digests pinned'], 'operator.image.tag': '9.9.9' });
    expect(operatorContainer(objects).image).toBe(`ghcr.io/pgwarden/operator@${digest}`);
    expect(arg(objects, 'sidecar-image')).toBe(`ghcr.io/pgwarden/sidecar@${digest}`);
  });

  it('sidecar defaults (pull policy and secrets, spool size, recording Secret and claim, logs) become operator flags', async () => {
    const defaults = await renderChart();
    const flags = (objects: RenderedObject[]) =>
      operatorContainer(objects).args.filter((a) =>
        /^--(sidecar-(image-pull|spool|recording|log)|log-format)/.test(a),
      );
    // Unset pull policy and recording sources are left out: Kubernetes' defaults, and no Secret required.
    expect(flags(defaults.objects)).toEqual([
      '--log-format=json',
      '--sidecar-spool-size-limit=1536Mi',
      '--sidecar-log-level=info',
      '--sidecar-log-format=json',
    ]);
    const { objects } = await renderChart(SIDECAR_VALUES);
    expect(flags(objects)).toEqual([
      '--log-format=text',
      '--sidecar-image-pull-policy=Always',
      '--sidecar-image-pull-secrets=regcred,mirror',
      '--sidecar-spool-size-limit=3Gi',
      '--sidecar-recording-secret=recording-s3',
      '--sidecar-recording-claim=recordings',
      '--sidecar-log-level=debug',
      '--sidecar-log-format=text',
    ]);
    const size = await helm(['template', 'pgwarden', CHART_DIR, '--set', 'sidecar.spoolSizeLimit=1.5GB']);
    expect(size.stderr).toMatch(/at '\/sidecar\/spoolSizeLimit': '1.5GB' does not match pattern/);
    const secret = await helm([
      'template',
      'pgwarden',
      CHART_DIR,
      '--set',
      'sidecar.recording.secretName=S3',
    ]);
    expect(secret.stderr).toMatch(/at '\/sidecar\/recording\/secretName': 'S3' does not match pattern/);
  });

  it('a typo in values fails with the path of the unknown key; a bad duration or enum names the allowed form', async () => {
    const typo = await helm(['template', 'pgwarden', CHART_DIR, '--set', 'operator.replcas=3']);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/at '\/operator': additional properties 'replcas' not allowed/);
    const duration = await helm(['template', 'pgwarden', CHART_DIR, '--set', 'operator.resync=ten minutes']);
    expect(duration.stderr).toMatch(/at '\/operator\/resync': 'ten minutes' does not match pattern/);
    const policy = await helm([
      'template',
      'pgwarden',
      CHART_DIR,
      '--set',
      'webhook.pods.failurePolicy=fail',
    ]);
    expect(policy.stderr).toMatch(
      /at '\/webhook\/pods\/failurePolicy': value must be one of 'Fail', 'Ignore'/,
    );
    process.stdout.write(`schema error as users see it:\n${typo.stderr}`);
  });

  it('certMode certManager: Certificate and Issuers, cainjector annotations, the operator serving their Secret read-only', async () => {
    const { objects } = await renderChart(
      { 'webhook.certMode': 'certManager' },
      { release: 'pgw', namespace: 'security' },
    );
    type Certificate = RenderedObject & {
      spec: {
        secretName: string;
        dnsNames?: string[];
        isCA?: boolean;
        issuerRef: { name: string; kind: string };
      };
    };
    const serving = find(objects, 'Certificate', 'pgw-operator-webhook') as Certificate;
    expect(serving.spec.secretName).toBe('pgw-operator-webhook-tls');
    expect(serving.spec.dnsNames).toEqual([
      'pgw-operator.security.svc',
      'pgw-operator.security.svc.cluster.local',
    ]);
    // No issuerRef given: a self-signed root signs the webhook's own CA, which issues the serving certificate.
    expect(serving.spec.issuerRef).toMatchObject({ name: 'pgw-operator-ca', kind: 'Issuer' });
    expect((find(objects, 'Certificate', 'pgw-operator-ca') as Certificate).spec).toMatchObject({
      isCA: true,
      issuerRef: { name: 'pgw-operator-selfsigned', kind: 'Issuer' },
    });
    expect(find(objects, 'Issuer', 'pgw-operator-selfsigned').spec).toEqual({ selfSigned: {} });
    expect(find(objects, 'Issuer', 'pgw-operator-ca').spec).toEqual({
      ca: { secretName: 'pgw-operator-ca' },
    });
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(find(objects, kind).metadata.annotations).toEqual({
        'cert-manager.io/inject-ca-from': 'security/pgw-operator-webhook',
      });
    }
    // The operator serves the Secret the Certificate names, in external mode: no issuing, no caBundle patch.
    expect(arg(objects, 'webhook-cert-mode')).toBe('external');
    expect(arg(objects, 'webhook-secret')).toBe(serving.spec.secretName);
    expect(arg(objects, 'webhook-hosts')?.split(',')).toEqual(serving.spec.dnsNames);
    // Its RBAC: read (and watch) that one Secret; write no Secret and no webhook configuration.
    type Rules = RenderedObject & {
      rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    const clusterRole = find(objects, 'ClusterRole', 'pgw-operator') as Rules;
    expect(clusterRole.rules.flatMap((r) => r.resources)).not.toContain('mutatingwebhookconfigurations');
    const role = find(objects, 'Role', 'pgw-operator') as Rules;
    expect(role.rules.filter((r) => r.resources.includes('secrets'))).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['pgw-operator-webhook-tls'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);

    // An existing (Cluster)Issuer: only the serving Certificate, issued by it.
    const issuerRef = { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' };
    const own = await renderChart({
      'webhook.certMode': 'certManager',
      'webhook.certManager.issuerRef': issuerRef,
    });
    expect(own.objects.filter((o) => o.apiVersion === 'cert-manager.io/v1').map((o) => o.kind)).toEqual([
      'Certificate',
    ]);
    expect((find(own.objects, 'Certificate') as Certificate).spec.issuerRef).toEqual(issuerRef);

    // certMode self (the default): nothing of cert-manager, the operator issues and patches.
    const self = await renderChart();
    expect(self.objects.filter((o) => o.apiVersion.startsWith('cert-manager.io/'))).toEqual([]);
    expect(find(self.objects, 'MutatingWebhookConfiguration').metadata.annotations).toBeUndefined();
    expect(arg(self.objects, 'webhook-cert-mode')).toBe('self');
  });

  it("RBAC and webhooks equal the operator's own install manifests (examples/kubernetes/install/operator.yaml)", async () => {
    // Generated from operator/src/install by the operator package, which keeps it current with a test of its own.
    const install = parseObjects(
      readFileSync(join(repoRoot, 'examples/kubernetes/install/operator.yaml'), 'utf8'),
    );
    const { objects } = await renderChart({}, { release: 'pgwarden', namespace: 'pgwarden-system' });
    // The chart names the webhook Secret after the release; the install manifests use the operator's default.
    const rules = (o: RenderedObject) =>
      sortedJson((o as RenderedObject & { rules: unknown[] }).rules).replaceAll(
        '"pgwarden-operator-webhook-tls"',
        '"pgwarden-webhook-tls"',
      );
    for (const [kind, name] of [
      ['ClusterRole', 'pgwarden-operator'],
      ['Role', 'pgwarden-operator'],
      ['ClusterRole', 'pgwarden-approver'],
    ] as const) {
      expect(rules(find(objects, kind, name)), `${kind}/${name}`).toEqual(rules(find(install, kind, name)));
    }
    // Same webhooks, paths, rules and policies; the chart adds labels and a configurable selector.
    const webhooks = (o: RenderedObject) =>
      sortedJson(
        (o as Webhooks).webhooks.map((w) => {
          const { namespaceSelector: _selector, ...rest } = w as Webhooks['webhooks'][number] &
            Record<string, unknown>;
          return rest;
        }),
      );
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(webhooks(find(objects, kind)), kind).toEqual(webhooks(find(install, kind)));
    }
  });

  it('the chart CRD templates are current with crds/manifests (make chart-crds)', () => {
    expect(
      readChartCrds(),
      'charts/pgwarden/templates/crds is stale: run make chart-crds (pnpm generate runs it too)',
    ).toEqual(renderChartCrds());
  });
});

/** JSON with object keys sorted and arrays of objects in a stable order, for order-insensitive comparison. */
function sortedJson(value: unknown): string {
  const normalize = (v: unknown): unknown => {
    if (Array.isArray(v))
      return v.map(normalize).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, x]) => [k, normalize(x)]),
      );
    }
    return v;
  };
  return JSON.stringify(normalize(value), null, 1);
}

/** Every pgwarden_* name quoted in the operator's and the sidecar's sources: the metrics they register. */
function exportedMetricNames(): string[] {
  return ['operator/src', 'sidecar/src'].flatMap((dir) => {
    const root = fileURLToPath(new URL(`../../../${dir}/`, import.meta.url));
    return readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => [...readFileSync(join(root, file), 'utf8').matchAll(/'(pgwarden_[a-z_]+)'/g)])
      .map((m) => m[1] as string);
  });
}
