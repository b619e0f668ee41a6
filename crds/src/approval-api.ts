import { z } from 'zod';
import { ApprovalRecordSchema, ApprovalStatementSchema } from './approval.js';

/**
 * Approvals in Kubernetes. Each request is a QueryApproval object (spec: the
 * ApprovalRequest, status: the ApprovalStatus) in the agent pod's namespace,
 * named by the request's id. Sidecars reach it through the operator's approval
 * API on its HTTPS listener (CA and projected token as for the grant API):
 *
 *   POST   /v1/approvals                          ApprovalAsk → 200 ApprovalRecord: an approval that
 *                                                 already covers the statement, else the pending request
 *                                                 for it (found or created)
 *   GET    /v1/approvals/NAME?waitSeconds=N       → ApprovalRecord once it is no longer Pending, or after N s
 *   POST   /v1/approvals/NAME/executions          ExecutionStart → 200 ExecutionStarted; 409 when a
 *                                                 single-use approval was used already
 *   PUT    /v1/approvals/NAME/executions/INDEX    ExecutionOutcome → 204
 *   DELETE /v1/approvals/NAME                     → 204: the client gave up (cancel) while Pending
 *
 * Errors are ApprovalApiError with 400, 401, 403, 404, 409 or 503. Humans
 * decide through the API server (status subresource); the operator's
 * admission webhook stamps who decided.
 */

export const QUERY_APPROVAL_KIND = 'QueryApproval';
export const QUERY_APPROVAL_PLURAL = 'queryapprovals';
/** The path of the approval API on the operator's HTTPS listener. */
export const APPROVAL_API_PATH = '/v1/approvals';
/** Longest hold of one GET; a sidecar waiting longer asks again. */
export const APPROVAL_MAX_WAIT_SECONDS = 50;
/**
 * Annotation with the first line of the statement, shortened: the queue's
 * "Statement" column (a printer column cannot shorten a field).
 */
export const STATEMENT_EXCERPT_ANNOTATION = 'pgwarden.io/statement';
const EXCERPT_CHARS = 60;

/** The statement as one short line, for the queue. */
export function statementExcerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= EXCERPT_CHARS ? line : `${line.slice(0, EXCERPT_CHARS - 1)}…`;
}

export const ApprovalAskSchema = z
  .object({
    statement: ApprovalStatementSchema,
    policy: z
      .object({
        name: z.string().min(1),
        hash: z.string().regex(/^[0-9a-f]{64}$/),
        rule: z.string().min(1),
        message: z.string(),
      })
      .strict()
      .describe('The policy of the sidecar’s grant and the rule that held the statement.'),
    session: z.string().min(1),
    clientAddress: z.string().nullable(),
    clientUser: z.string().nullable(),
  })
  .strict()
  .describe(
    'A held statement. The operator fills in the requester (pod and service account, from the token) and the approval settings (from the policy).',
  );
export type ApprovalAsk = z.output<typeof ApprovalAskSchema>;

export const ApprovalAnswerSchema = ApprovalRecordSchema;

export const ExecutionStartSchema = z
  .object({ session: z.string().min(1) })
  .strict()
  .describe('The approved statement is about to be sent to the database in this session.');

export const ExecutionStartedSchema = z
  .object({
    record: ApprovalRecordSchema,
    execution: z.number().int().min(0).describe('Index in status.executions, for the outcome.'),
  })
  .strict();
export type ExecutionStarted = z.output<typeof ExecutionStartedSchema>;

export const ExecutionOutcomeSchema = z
  .object({
    commandTag: z.string().nullable().describe('CommandComplete’s tag, e.g. DELETE 1; null when it failed.'),
    error: z.string().nullable().describe('The server’s error message when it failed.'),
  })
  .strict();
export type ExecutionOutcome = z.output<typeof ExecutionOutcomeSchema>;

export const ApprovalApiErrorSchema = z.object({ error: z.string() }).strict();
