export { AgentAccessPolicyController } from './agent-access-policy/controller.js';
export { reconcileAgentAccessPolicy } from './agent-access-policy/reconcile.js';
export { DatabaseConnectionController } from './database-connection/controller.js';
export { probeDatabase } from './database-connection/probe.js';
export { reconcileDatabaseConnection } from './database-connection/reconcile.js';
export { kubeClients } from './kube/clients.js';
