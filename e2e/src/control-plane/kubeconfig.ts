import { writeFile } from 'node:fs/promises';

/** A client certificate, or a bearer token (a service account's, from TokenRequest). */
export type KubeconfigUser = { name: string } & ({ certPem: string; keyPem: string } | { token: string });

/**
 * A kubeconfig with one cluster, one user and one context, credentials
 * embedded. Written as JSON, which kubectl, helm and @kubernetes/client-node
 * read as YAML.
 */
export function renderKubeconfig(server: string, caPem: string, user: KubeconfigUser): string {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'pgwarden-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [
      {
        name: user.name,
        user:
          'token' in user
            ? { token: user.token }
            : { 'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem) },
      },
    ],
    contexts: [
      { name: user.name, context: { cluster: 'pgwarden-test', user: user.name, namespace: 'default' } },
    ],
    'current-context': user.name,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export async function writeKubeconfig(
  path: string,
  server: string,
  caPem: string,
  user: KubeconfigUser,
): Promise<void> {
  await writeFile(path, renderKubeconfig(server, caPem, user), { mode: 0o600 });
}
