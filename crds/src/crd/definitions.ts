import type { z } from 'zod';
import { ApprovalRequestSchema, ApprovalStatusSchema } from '../approval.js';
import { QUERY_APPROVAL_KIND, QUERY_APPROVAL_PLURAL, STATEMENT_EXCERPT_ANNOTATION } from '../approval-api.js';
import { BUILTIN_RULES } from '../builtin-rules.js';
import {
  DATABASE_CONNECTION_KIND,
  DatabaseConnectionSpecSchema,
  DatabaseConnectionStatusSchema,
} from '../database-connection.js';
import { AgentAccessPolicySpecSchema, POLICY_KIND } from '../policy.js';
import { AgentAccessPolicyStatusSchema } from '../policy-status.js';

export { API_GROUP, API_VERSION } from '../api-group.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 1: shown only with `kubectl get -o wide`. */
  priority?: number;
}

export interface ValidationRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Kubernetes-only additions to a field of the generated schema, by path ("spec.rules[].name"). */
export interface FieldExtension {
  validations?: ValidationRule[];
  listMapKeys?: string[];
  /**
   * A bound the API server needs to estimate CEL costs: without it, a rule on
   * each item of a list is priced for as many items as fit in a request.
   */
  maxItems?: number;
}

export interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /**
   * For schemas whose zod refinements are not annotated with `.meta()` where
   * they are defined: the CEL equivalent of each, kept next to the CRD it
   * belongs to. The generator fails when a path no longer exists.
   */
  extensions?: Record<string, FieldExtension>;
}

const ready = (kind: string): PrinterColumn[] => [
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: `Whether the ${kind} is Ready.`,
  },
];
const reason: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why it is (not) Ready.',
  priority: 1,
};
const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

const builtinRuleNames = Object.keys(BUILTIN_RULES);

export const CRD_DEFINITIONS: readonly CrdDefinition[] = [
  {
    kind: DATABASE_CONNECTION_KIND,
    plural: 'databaseconnections',
    singular: 'databaseconnection',
    shortNames: ['dbconn'],
    description:
      'A PostgreSQL database that AgentAccessPolicies grant access to, and the credential the operator uses for it. Agent pods never see the credential: their pgwarden sidecar receives a short-lived grant from the operator.',
    spec: DatabaseConnectionSpecSchema,
    status: DatabaseConnectionStatusSchema,
    printerColumns: [
      { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'Database server host.' },
      {
        name: 'Port',
        type: 'integer',
        jsonPath: '.spec.port',
        description: 'Database server port.',
        priority: 1,
      },
      { name: 'Database', type: 'string', jsonPath: '.spec.database', description: 'Database name.' },
      { name: 'TLS', type: 'string', jsonPath: '.spec.tls.mode', description: 'TLS mode.', priority: 1 },
      ...ready('DatabaseConnection'),
      {
        name: 'Version',
        type: 'string',
        jsonPath: '.status.serverVersion',
        description: 'PostgreSQL server version at the last probe.',
      },
      reason,
      age,
    ],
  },
  {
    kind: POLICY_KIND,
    plural: 'agentaccesspolicies',
    singular: 'agentaccesspolicy',
    shortNames: ['aap', 'agentpolicy'],
    description:
      'What AI agents in the bound pods may do to one database: an ordered rule list (default deny) over statement kinds, tables and functions, on top of built-in rules, plus limits. Enforced by the pgwarden sidecar on every statement.',
    spec: AgentAccessPolicySpecSchema,
    status: AgentAccessPolicyStatusSchema,
    printerColumns: [
      {
        name: 'Connection',
        type: 'string',
        jsonPath: '.spec.connection',
        description: 'DatabaseConnection the policy grants access to.',
      },
      { name: 'Access', type: 'string', jsonPath: '.spec.access', description: 'read-only or read-write.' },
      ...ready('AgentAccessPolicy'),
      {
        name: 'Bound Pods',
        type: 'integer',
        jsonPath: '.status.boundPods',
        description: 'Running pods the policy binds.',
      },
      reason,
      age,
    ],
    // The refinements of RuleListSchema (policy.ts): names unique, built-in names reserved.
    // maxItems lets the API server afford the per-rule CEL check; it belongs in
    // policy.ts as .max() so standalone files share the bound.
    extensions: {
      'spec.rules': { listMapKeys: ['name'], maxItems: 1000 },
      'spec.rules[].name': {
        validations: [
          {
            rule: `!(self in ${JSON.stringify(builtinRuleNames).replace(/"/g, "'")})`,
            message: `is the name of a built-in rule (${builtinRuleNames.join(', ')}); choose another name`,
          },
        ],
      },
    },
  },
  {
    kind: QUERY_APPROVAL_KIND,
    plural: QUERY_APPROVAL_PLURAL,
    singular: 'queryapproval',
    shortNames: ['qa'],
    description:
      'A statement an agent sent that its AgentAccessPolicy holds for a human (a rule with action approve), created by the operator when the pgwarden sidecar asks. Approve or deny with `kubectl pgwarden approve|deny NAME`: the decision is written to the status through the API server, and the operator’s admission webhook stamps who decided, refuses the requester and anyone outside the policy’s approvers, and keeps a decided request unchanged.',
    spec: ApprovalRequestSchema.describe(
      'The held statement, who asked, and the policy’s approval settings at that time.',
    ),
    status: ApprovalStatusSchema.describe('The decision and every run of the approved statement.'),
    printerColumns: [
      {
        name: 'Phase',
        type: 'string',
        jsonPath: '.status.phase',
        description: 'Pending, Approved, Denied, Expired or Executed.',
      },
      {
        name: 'Policy',
        type: 'string',
        jsonPath: '.spec.policy.name',
        description: 'AgentAccessPolicy that held the statement.',
      },
      {
        name: 'Rule',
        type: 'string',
        jsonPath: '.spec.policy.rule',
        description: 'The rule whose action approve held it.',
      },
      {
        name: 'Pod',
        type: 'string',
        jsonPath: '.spec.requester.pod',
        description: 'Agent pod that sent the statement.',
      },
      {
        name: 'Statement',
        type: 'string',
        jsonPath: `.metadata.annotations.${STATEMENT_EXCERPT_ANNOTATION.replace('.', '\\.')}`,
        description: 'The statement, shortened to one line (spec.statement.text has it whole).',
      },
      {
        name: 'Decided By',
        type: 'string',
        jsonPath: '.status.decidedBy',
        description: 'Who made the decision that ended Pending.',
      },
      {
        name: 'Service Account',
        type: 'string',
        jsonPath: '.spec.requester.serviceAccount',
        description: 'Service account of the agent pod.',
        priority: 1,
      },
      {
        name: 'Required',
        type: 'integer',
        jsonPath: '.spec.requiredApprovals',
        description: 'Distinct approvals needed.',
        priority: 1,
      },
      {
        name: 'Expires',
        type: 'string',
        jsonPath: '.spec.expiresAt',
        description: 'Undecided by then, it expires.',
        priority: 1,
      },
      age,
    ],
  },
];
