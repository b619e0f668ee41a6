export type { ControlPlaneProgram } from './control-plane/binaries.js';
export { controlPlaneBin, controlPlaneBinDir } from './control-plane/binaries.js';
export type { ClientUser, KubectlOptions, TestCluster } from './control-plane/cluster.js';
export { E2E_NAMESPACE_LABEL, externalKubeconfig, localControlPlane } from './control-plane/cluster.js';
export type { ControlPlane, ControlPlaneOptions } from './control-plane/control-plane.js';
export { startControlPlane } from './control-plane/control-plane.js';
export type { ClientSubject, KeyPair } from './control-plane/pki.js';
export {
  itLocalOnly,
  itUnless,
  reportSkippedOnExternal,
  useCluster,
  useControlPlane,
} from './control-plane/vitest.js';
export { pgBin, pgBinDir } from './harness/binaries.js';
export type { SessionKey } from './harness/cancel-request.js';
export { sendCancelRequest } from './harness/cancel-request.js';
export type { TestRole } from './harness/cluster-config.js';
export { freePort } from './harness/port.js';
export type {
  Credentials,
  PostgresCluster,
  PsqlOptions,
  Role,
  StartOptions,
} from './harness/postgres.js';
export { startPostgres } from './harness/postgres.js';
export type { RunOptions, RunResult, Started } from './harness/process.js';
export { run, start } from './harness/process.js';
export type { S3Server } from './harness/s3.js';
export { s3ServerBinary, startS3 } from './harness/s3.js';
export type { TestPki } from './harness/tls.js';
export { createTestPki } from './harness/tls.js';
export { usePostgres } from './harness/vitest.js';
