import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { KubeClients } from './clients.js';

/**
 * The user name the API server knows the operator by (SelfSubjectReview,
 * which every authenticated user may create): whatever credentials it runs
 * with, a service account token in a pod or a client certificate in tests.
 */
export async function selfUserName(clients: KubeClients): Promise<string> {
  const review = await clients.config
    .makeApiClient(AuthenticationV1Api)
    .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  const name = review.status?.userInfo?.username;
  if (!name) throw new Error('SelfSubjectReview returned no user name');
  return name;
}
