import {
  compilePolicy,
  type FieldError,
  formatFieldError,
  PolicyCompileError,
  validatePolicy,
} from '@pgwarden/crds';
import type { Reviewer } from './admission.js';
import { RECORDINGS_DIR } from './sidecar.js';

/**
 * The validating webhook on AgentAccessPolicy CREATE and UPDATE: the rules
 * the CRD's OpenAPI schema and CEL cannot state are those of the compiler (a
 * valid policy this version cannot enforce), and the whole zod schema stands
 * behind the CRD's in case the two ever drift. Refusals name each field, in
 * the API server's own format (422 Invalid with causes).
 */
export const policyReviewer: Reviewer = (request) => {
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
    const warnings = sinkWarnings(validation.policy.spec.recording?.sink);
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
 * A dir sink an injected sidecar can write: under the directory where the
 * operator mounts --sidecar-recording-claim, its root file system being
 * read-only. Only a warning: the path may be mounted by other means.
 */
function sinkWarnings(sink: { type: string; path?: string } | undefined): string[] {
  if (sink?.type !== 'dir' || sink.path === undefined) return [];
  if (sink.path === RECORDINGS_DIR || sink.path.startsWith(`${RECORDINGS_DIR}/`)) return [];
  return [
    `spec.recording.sink.path ${JSON.stringify(sink.path)}: an injected sidecar writes recordings only under ${RECORDINGS_DIR}, where the operator mounts --sidecar-recording-claim (chart sidecar.recording.claimName); its root file system is read-only`,
  ];
}
