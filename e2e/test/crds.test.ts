import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatabaseConnectionSchema } from '../../crds/src/database-connection.js';
import { fieldErrorMap, toFieldErrors } from '../../crds/src/field-errors.js';
import { AgentAccessPolicySchema } from '../../crds/src/policy.js';
import { useControlPlane } from '../src/control-plane/vitest.js';

// The generated CRDs on a real kube-apiserver: what it accepts, what it
// refuses and how it says so, what kubectl shows. Each refusal is checked
// against the zod schema too, so the CEL rules and the refinements they
// stand for cannot drift apart unnoticed.

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const ns = 'agents';

const connection = () => ({
  apiVersion: 'pgwarden.io/v1alpha1',
  kind: 'DatabaseConnection',
  metadata: { name: 'orders', namespace: ns },
  spec: {
    host: 'db.internal',
    database: 'orders',
    tls: { mode: 'require' },
    credentials: { static: { secretRef: { name: 'orders-role' } } },
  } as Record<string, unknown>,
});

const policy = () => ({
  apiVersion: 'pgwarden.io/v1alpha1',
  kind: 'AgentAccessPolicy',
  metadata: { name: 'reader', namespace: ns },
  spec: {
    subjects: { serviceAccounts: ['agent'] },
    connection: 'orders',
    rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
  } as Record<string, unknown>,
});

type Manifest = ReturnType<typeof connection> | ReturnType<typeof policy>;

interface Refusal {
  what: string;
  object: Manifest;
  /** The API server's message names the field: a substring of kubectl's stderr. */
  server: string;
  /** Where zod reports the same problem. */
  zodPath: string;
}

function withSpec<T extends Manifest>(object: T, change: (spec: Record<string, unknown>) => void): T {
  change(object.spec);
  return object;
}

const refusals: Refusal[] = [
  {
    what: 'an unknown access mode',
    object: withSpec(policy(), (s) => Object.assign(s, { access: 'write-everything' })),
    server: 'spec.access: Unsupported value: "write-everything": supported values: "read-only", "read-write"',
    zodPath: 'spec.access',
  },
  {
    what: 'an unknown statement kind',
    object: withSpec(policy(), (s) =>
      Object.assign(s, { rules: [{ name: 'r', match: { kinds: ['reads'] }, action: 'allow' }] }),
    ),
    server: 'spec.rules[0].match.kinds[0]: Unsupported value: "reads"',
    zodPath: 'spec.rules[0].match.kinds[0]',
  },
  {
    what: 'two rules with one name',
    object: withSpec(policy(), (s) =>
      Object.assign(s, {
        rules: [
          { name: 'r', match: {}, action: 'deny' },
          { name: 'r', match: { kinds: ['read'] }, action: 'allow' },
        ],
      }),
    ),
    server: 'spec.rules[1]: Duplicate value',
    zodPath: 'spec.rules[1].name',
  },
  {
    what: 'a rule named after a built-in rule',
    object: withSpec(policy(), (s) =>
      Object.assign(s, { rules: [{ name: 'default-deny', match: {}, action: 'deny' }] }),
    ),
    server: 'spec.rules[0].name: Invalid value: "default-deny": is the name of a built-in rule',
    zodPath: 'spec.rules[0].name',
  },
  {
    what: 'a rule name that is not a DNS label',
    object: withSpec(policy(), (s) =>
      Object.assign(s, { rules: [{ name: 'No_Caps', match: {}, action: 'deny' }] }),
    ),
    server: 'spec.rules[0].name: Invalid value: "No_Caps": spec.rules[0].name in body should match',
    zodPath: 'spec.rules[0].name',
  },
  {
    what: 'an empty pod selector',
    object: withSpec(policy(), (s) => Object.assign(s, { subjects: { podSelector: {} } })),
    server: 'spec.subjects.podSelector: Invalid value: an empty selector would select every pod',
    zodPath: 'spec.subjects.podSelector',
  },
  {
    what: 'an In requirement without values',
    object: withSpec(policy(), (s) =>
      Object.assign(s, { subjects: { podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } } }),
    ),
    server:
      'spec.subjects.podSelector.matchExpressions[0].values: Invalid value: In and NotIn need at least one value',
    zodPath: 'spec.subjects.podSelector.matchExpressions[0].values',
  },
  {
    what: 'a duration without a unit it knows',
    object: withSpec(policy(), (s) => Object.assign(s, { limits: { statementTimeout: '30 seconds' } })),
    server: 'spec.limits.statementTimeout: Invalid value: "30 seconds"',
    zodPath: 'spec.limits.statementTimeout',
  },
  {
    what: 'a zero row limit',
    object: withSpec(policy(), (s) => Object.assign(s, { limits: { maxRows: 0 } })),
    server: 'spec.limits.maxRows: Invalid value: 0: spec.limits.maxRows in body should be greater than 0',
    zodPath: 'spec.limits.maxRows',
  },
  {
    what: 'a policy without a connection',
    object: withSpec(policy(), (s) => delete s.connection),
    server: 'spec.connection: Required value',
    zodPath: 'spec.connection',
  },
  {
    what: 'a misspelt field',
    object: withSpec(policy(), (s) => Object.assign(s, { rulez: [] })),
    server: 'unknown field "spec.rulez"',
    zodPath: 'spec.rulez',
  },
  {
    what: 'verify-full without a CA',
    object: withSpec(connection(), (s) => Object.assign(s, { tls: { mode: 'verify-full' } })),
    server: 'spec.tls.caSecretRef: Required value: verify-ca and verify-full need caSecretRef',
    zodPath: 'spec.tls.caSecretRef',
  },
  {
    what: 'both static and dynamic credentials',
    object: withSpec(connection(), (s) =>
      Object.assign(s, {
        credentials: {
          static: { secretRef: { name: 'x' } },
          dynamic: { adminSecretRef: { name: 'y' }, memberOf: ['reader'] },
        },
      }),
    ),
    server: 'spec.credentials: Invalid value: give exactly one of static or dynamic',
    zodPath: 'spec.credentials',
  },
  {
    what: 'a dynamic role prefix PostgreSQL reserves',
    object: withSpec(connection(), (s) =>
      Object.assign(s, {
        credentials: {
          dynamic: { adminSecretRef: { name: 'y' }, memberOf: ['reader'], rolePrefix: 'pg_agent' },
        },
      }),
    ),
    server: 'spec.credentials.dynamic.rolePrefix: Invalid value: rolePrefix cannot start with "pg_"',
    zodPath: 'spec.credentials.dynamic.rolePrefix',
  },
  {
    what: 'a port out of range',
    object: withSpec(connection(), (s) => Object.assign(s, { port: 70000 })),
    server: 'spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535',
    zodPath: 'spec.port',
  },
  {
    what: 'an unknown TLS mode',
    object: withSpec(connection(), (s) => Object.assign(s, { tls: { mode: 'on' } })),
    server: 'spec.tls.mode: Unsupported value: "on"',
    zodPath: 'spec.tls.mode',
  },
];

function zodErrorPaths(object: Manifest): string[] {
  const options = { error: fieldErrorMap };
  const result =
    object.kind === 'DatabaseConnection'
      ? DatabaseConnectionSchema.safeParse(object, options)
      : AgentAccessPolicySchema.safeParse(object, options);
  return result.success ? [] : toFieldErrors(result.error.issues).map((e) => e.path);
}

describe('pgwarden CRDs on kube-apiserver', () => {
  const k8s = useControlPlane();
  const apply = (object: unknown, kubeconfig?: string) =>
    k8s().kubectl(['apply', '-f', '-'], { input: JSON.stringify(object), kubeconfig });
  const getJson = async (resource: string, name: string) =>
    JSON.parse(await k8s().kubectlOk(['get', resource, name, '-n', ns, '-o', 'json'])) as {
      spec: Record<string, unknown>;
      status?: Record<string, unknown>;
    };

  beforeAll(async () => {
    await k8s().kubectlOk(['apply', '-f', repo('crds/manifests/')]);
    await k8s().kubectlOk([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd',
      '-l',
      'app.kubernetes.io/part-of=pgwarden',
    ]);
    await k8s().kubectlOk(['apply', '-f', repo('examples/kubernetes/namespace.yaml')]);
  });

  it('serves both kinds under pgwarden.io/v1alpha1 with short names and the pgwarden category', async () => {
    const resources = await k8s().kubectlOk(['api-resources', '--api-group=pgwarden.io', '--no-headers']);
    expect(resources).toMatch(
      /^agentaccesspolicies\s+aap,agentpolicy\s+pgwarden\.io\/v1alpha1\s+true\s+AgentAccessPolicy$/m,
    );
    expect(resources).toMatch(
      /^databaseconnections\s+dbconn\s+pgwarden\.io\/v1alpha1\s+true\s+DatabaseConnection$/m,
    );
    expect((await k8s().kubectl(['get', 'pgwarden', '-n', ns])).code).toBe(0);
  });

  it('accepts the examples in examples/kubernetes and examples/policies', async () => {
    await k8s().kubectlOk(['apply', '-f', repo('examples/kubernetes/')]);
    const policies = readdirSync(repo('examples/policies')).filter((name) => name.endsWith('.yaml'));
    expect(policies.length).toBeGreaterThan(0);
    for (const name of policies) await k8s().kubectlOk(['apply', '-f', repo(`examples/policies/${name}`)]);
    const names = await k8s().kubectlOk(['get', 'aap,dbconn', '-n', ns, '-o', 'name']);
    expect(names.split('\n')).toEqual(
      expect.arrayContaining([
        'agentaccesspolicy.pgwarden.io/analytics-agent',
        'agentaccesspolicy.pgwarden.io/claude-ci',
        'databaseconnection.pgwarden.io/orders-prod',
      ]),
    );
  });

  it('fills in the defaults', async () => {
    expect((await apply(connection())).code).toBe(0);
    expect((await apply(policy())).code).toBe(0);
    const stored = await getJson('dbconn', 'orders');
    expect(stored.spec).toMatchObject({
      port: 5432,
      connectTimeout: '10s',
      probeInterval: '1m',
      credentials: { static: { usernameKey: 'username', passwordKey: 'password' } },
    });
    expect((await getJson('aap', 'reader')).spec.access).toBe('read-only');
  });

  it.each(refusals)('refuses $what, naming the field', async ({ object, server, zodPath }) => {
    const result = await apply(object);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(server);
    expect(zodErrorPaths(object)).toContain(zodPath);
  });

  it('documents every field in kubectl explain', async () => {
    const tables = await k8s().kubectlOk(['explain', 'agentaccesspolicy.spec.rules.match.tables']);
    expect(tables).toContain('Table and view name patterns');
    const mode = await k8s().kubectlOk(['explain', 'dbconn.spec.tls.mode']);
    expect(mode).toContain('with libpq’s sslmode meanings');
    expect(mode).toMatch(/ENUM:\s+disable\s+prefer\s+require\s+verify-ca\s+verify-full/);
    const recursive = await k8s().kubectlOk(['explain', 'aap', '--recursive']);
    expect(recursive).toContain('statementTimeout');
    expect(recursive).toContain('boundPods');
  });

  it('keeps status apart (subresource) and shows it in the printer columns', async () => {
    const status = {
      observedGeneration: 1,
      boundPods: 3,
      conditions: [
        {
          type: 'Compiled',
          status: 'True',
          reason: 'Compiled',
          message: 'ok',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
        {
          type: 'Ready',
          status: 'False',
          reason: 'ConnectionNotReady',
          message: 'orders is not Ready',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    // A status in the main resource is dropped; only the subresource writes it.
    await k8s().kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ ...policy(), status }) });
    expect((await getJson('aap', 'reader')).status).toBeUndefined();
    await k8s().kubectlOk([
      'patch',
      'aap',
      'reader',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);

    const table = await k8s().kubectlOk(['get', 'aap', 'reader', '-n', ns, '-o', 'wide']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'NAME',
      'CONNECTION',
      'ACCESS',
      'READY',
      'BOUND PODS',
      'REASON',
      'AGE',
    ]);
    expect(row?.split(/\s{2,}/).slice(0, 6)).toEqual([
      'reader',
      'orders',
      'read-only',
      'False',
      '3',
      'ConnectionNotReady',
    ]);

    const badReason = await k8s().kubectl([
      'patch',
      'aap',
      'reader',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { conditions: [{ ...status.conditions[0], reason: 'not a word' }] } }),
    ]);
    expect(badReason.stderr).toContain('status.conditions[0].reason: Invalid value: "not a word"');
  });

  it('lets RBAC split policy authors from connection owners and from the operator (status)', async () => {
    await k8s().kubectlOk([
      'create',
      'role',
      'policy-author',
      '-n',
      ns,
      '--verb=get,list,watch,create,update,patch',
      '--resource=agentaccesspolicies.pgwarden.io',
    ]);
    await k8s().kubectlOk([
      'create',
      'rolebinding',
      'policy-authors',
      '-n',
      ns,
      '--role=policy-author',
      '--group=policy-authors',
    ]);
    const dev = await k8s().mintUser({ user: 'dev', groups: ['policy-authors'] });

    const created = await apply(
      { ...policy(), metadata: { name: 'devs-policy', namespace: ns } },
      dev.kubeconfig,
    );
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('agentaccesspolicy.pgwarden.io/devs-policy created');

    const connections = await k8s().kubectl(['get', 'dbconn', '-n', ns], { kubeconfig: dev.kubeconfig });
    expect(connections.stderr).toContain(
      'User "dev" cannot list resource "databaseconnections" in API group "pgwarden.io"',
    );
    const ownStatus = await k8s().kubectl(
      [
        'patch',
        'aap',
        'devs-policy',
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"status":{"boundPods":1}}',
      ],
      { kubeconfig: dev.kubeconfig },
    );
    expect(ownStatus.stderr).toContain('User "dev" cannot get resource "agentaccesspolicies/status"');
  });
});
