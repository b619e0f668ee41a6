import {
  compilePolicy,
  type FieldError,
  formatFieldError,
  PolicyCompileError,
  parseByteSize,
  type RecordingSettings,
  validatePolicy,
} from '@pgwarden/crds';
import { quantityValue } from '../kube/quantity.js';
import type { Reviewer } from './admission.js';
import { RECORDING_SECRET_KEYS, RECORDINGS_DIR } from './sidecar.js';

/**
 * The validating webhook on AgentAccessPolicy CREATE and UPDATE: the rules
 * the CRD's OpenAPI schema and CEL cannot state are those of the compiler (a
 * valid policy this version cannot enforce), and the whole zod schema stands
 * behind the CRD's in case the two ever drift. Refusals name each field, in
 * the API server's own format (422 Invalid with causes). A valid policy an
 * injected sidecar could not record as asked is admitted with warnings.
 */
export const policyReviewer =
  (sidecar: { spoolSizeLimit: string }): Reviewer =>
  (request) => {
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
      return { verdict: { allowed: true }, result: 'allowed' };
    }
    const validation = validatePolicy(request.object, { standalone: false });
    let errors: readonly FieldError[] = validation.ok ? [] : validation.errors;
    if (validation.ok) {
      try {
        compilePolicy(validation.policy);
      } catch (error) {
        if (!(error instanceof PolicyCompileError)) throw error;
        errors = error.errors;
      }
    }
    if (validation.ok && errors.length === 0) {
      const recording = validation.policy.spec.recording;
      const warnings = recording ? recordingWarnings(recording, sidecar.spoolSizeLimit) : [];
      return { verdict: { allowed: true, ...(warnings.length > 0 && { warnings }) }, result: 'allowed' };
    }
    const name = (request.object as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? '';
    return {
      verdict: {
        allowed: false,
        status: {
          code: 422,
          reason: 'Invalid',
          message: `AgentAccessPolicy "${name}" is invalid: ${errors.map(formatFieldError).join('; ')}`,
          details: { causes: errors.map((e) => ({ field: e.path, message: e.message })) },
        },
      },
      result: 'denied',
    };
  };

/**
 * What an injected sidecar could not do as the policy asks. A dir sink must
 * be under the directory where the operator mounts --sidecar-recording-claim,
 * the sidecar's root file system being read-only (only a warning: the path
 * may be mounted by other means). The spool cap must stay below the spool
 * volume's sizeLimit, or the kubelet evicts the pod before the proxy refuses
 * statements at the cap. An s3 sink's credentials must use the variable names
 * the operator fills from the recording Secret.
 */
function recordingWarnings(recording: RecordingSettings, spoolSizeLimit: string): string[] {
  const warnings: string[] = [];
  const { sink } = recording;
  if (sink.type === 'dir' && sink.path !== RECORDINGS_DIR && !sink.path.startsWith(`${RECORDINGS_DIR}/`)) {
    warnings.push(
      `spec.recording.sink.path ${JSON.stringify(sink.path)}: an injected sidecar writes recordings only under ${RECORDINGS_DIR}, where the operator mounts --sidecar-recording-claim (chart sidecar.recording.claimName); its root file system is read-only`,
    );
  }
  if (sink.type === 's3') {
    const { accessKeyIdEnv, secretAccessKeyEnv, sessionTokenEnv } = sink.credentials;
    const named = [accessKeyIdEnv, secretAccessKeyEnv, ...(sessionTokenEnv ? [sessionTokenEnv] : [])];
    const injected: readonly string[] = RECORDING_SECRET_KEYS.map((k) => k.key);
    const others = named.filter((name) => !injected.includes(name));
    if (others.length > 0) {
      warnings.push(
        `spec.recording.sink.credentials names ${others.join(', ')}: an injected sidecar gets only ${injected.join(', ')} from --sidecar-recording-secret (chart sidecar.recording.secretName); keep the default names`,
      );
    }
  }
  if (
    (parseByteSize(recording.spoolCap) ?? 0) >= (quantityValue(spoolSizeLimit) ?? Number.POSITIVE_INFINITY)
  ) {
    warnings.push(
      `spec.recording.spoolCap ${recording.spoolCap} is not below the sidecar's spool volume (${spoolSizeLimit}, --sidecar-spool-size-limit): the kubelet would evict the pod before the proxy refuses statements at the cap; raise the limit (chart sidecar.spoolSizeLimit) or lower spoolCap`,
    );
  }
  return warnings;
}
