/**
 * The kind of every statement node type the parser knows, stated explicitly.
 * The table's type demands an entry for each "…Stmt" member of the parser's Node
 * union, so a parser upgrade that adds one fails to compile (and a test checks
 * the installed package at run time). `null` marks node types that never stand
 * at the top of a statement; meeting one there is unclassified, and denied.
 *
 * Judgement calls:
 * - admin: cluster- or database-wide, superuser-grade or code-loading work —
 *   VACUUM/ANALYZE/CLUSTER/REINDEX/CHECKPOINT/LOAD, ALTER SYSTEM, databases,
 *   tablespaces, replication (publications, subscriptions), and CREATE/ALTER/DROP
 *   of extensions, languages, foreign-data wrappers, access methods and event
 *   triggers (each installs code or hooks every session).
 * - dcl: everything that changes who may do what — GRANT/REVOKE, roles, default
 *   privileges, REASSIGN/DROP OWNED, row-level security policies, user mappings
 *   (remote credentials), security labels, SET ROLE / SET SESSION AUTHORIZATION.
 *   ALTER … OWNER TO stays ddl, as ALTER TABLE … OWNER TO parses as ALTER TABLE.
 * - write: REFRESH MATERIALIZED VIEW (replaces a relation's rows, no schema change).
 * - ddl: TRUNCATE (per the facts contract), CREATE TABLE AS and SELECT INTO
 *   (create a table), CREATE TRIGGER/RULE/VIEW, ALTER FUNCTION.
 * - procedural: DO, CALL, CREATE FUNCTION/PROCEDURE (opaque code).
 * - transaction: SET TRANSACTION, SET CONSTRAINTS (last only for the transaction).
 * - session: LOCK (locksRows set), LISTEN/UNLISTEN/NOTIFY, DISCARD, EXECUTE
 *   (resolved to the prepared statement by the proxy), DEALLOCATE, CLOSE.
 * - like their inner statement: PREPARE, DECLARE CURSOR, EXPLAIN ANALYZE.
 */
import type { Node } from 'libpg-query';
import type { Resolver } from './draft.js';
import {
  closeKind,
  copyKind,
  createSchemaKind,
  createTableAsKind,
  deallocateKind,
  declareKind,
  discardKind,
  dropKind,
  executeKind,
  explainKind,
  fetchKind,
  lockKind,
  prepareKind,
  selectKind,
  transactionKind,
  variableSetKind,
} from './statements.js';

type KeysOfUnion<T> = T extends unknown ? keyof T : never;
/** Every node type name in the parser's Node union. */
export type NodeTypeName = KeysOfUnion<Node>;
/** The node types that are statements (and so may head a parse tree). */
export type StatementNodeType = Extract<NodeTypeName, `${string}Stmt`>;
type BodyOf<K extends NodeTypeName> = Extract<Node, Record<K, unknown>>[K];

export const STATEMENT_TABLE: { readonly [K in StatementNodeType]: Resolver<BodyOf<K>> | null } = {
  // Queries and data changes
  SelectStmt: selectKind,
  InsertStmt: 'write',
  UpdateStmt: 'write',
  DeleteStmt: 'write',
  MergeStmt: 'write',
  CopyStmt: copyKind,
  RefreshMatViewStmt: 'write',
  ExplainStmt: explainKind,
  VariableShowStmt: 'read',

  // Prepared statements and cursors
  PrepareStmt: prepareKind,
  ExecuteStmt: executeKind,
  DeallocateStmt: deallocateKind,
  DeclareCursorStmt: declareKind,
  FetchStmt: fetchKind,
  ClosePortalStmt: closeKind,

  // Session and transaction state
  VariableSetStmt: variableSetKind,
  TransactionStmt: transactionKind,
  ConstraintsSetStmt: 'transaction',
  DiscardStmt: discardKind,
  ListenStmt: 'session',
  UnlistenStmt: 'session',
  NotifyStmt: 'session',
  LockStmt: lockKind,

  // Opaque code
  DoStmt: 'procedural',
  CallStmt: 'procedural',
  CreateFunctionStmt: 'procedural',

  // Schema objects
  CreateStmt: 'ddl',
  CreateTableAsStmt: createTableAsKind,
  CreateSchemaStmt: createSchemaKind,
  DropStmt: dropKind,
  TruncateStmt: 'ddl',
  AlterTableStmt: 'ddl',
  IndexStmt: 'ddl',
  ViewStmt: 'ddl',
  RuleStmt: 'ddl',
  CreateTrigStmt: 'ddl',
  CreateSeqStmt: 'ddl',
  AlterSeqStmt: 'ddl',
  CommentStmt: 'ddl',
  RenameStmt: 'ddl',
  AlterObjectSchemaStmt: 'ddl',
  AlterObjectDependsStmt: 'ddl',
  AlterOwnerStmt: 'ddl',
  AlterFunctionStmt: 'ddl',
  DefineStmt: 'ddl',
  CompositeTypeStmt: 'ddl',
  CreateEnumStmt: 'ddl',
  AlterEnumStmt: 'ddl',
  CreateRangeStmt: 'ddl',
  AlterTypeStmt: 'ddl',
  CreateDomainStmt: 'ddl',
  AlterDomainStmt: 'ddl',
  AlterCollationStmt: 'ddl',
  CreateStatsStmt: 'ddl',
  AlterStatsStmt: 'ddl',
  CreateCastStmt: 'ddl',
  CreateConversionStmt: 'ddl',
  CreateTransformStmt: 'ddl',
  CreateOpClassStmt: 'ddl',
  CreateOpFamilyStmt: 'ddl',
  AlterOpFamilyStmt: 'ddl',
  AlterOperatorStmt: 'ddl',
  AlterTSDictionaryStmt: 'ddl',
  AlterTSConfigurationStmt: 'ddl',
  CreateForeignServerStmt: 'ddl',
  AlterForeignServerStmt: 'ddl',
  CreateForeignTableStmt: 'ddl',
  ImportForeignSchemaStmt: 'ddl',

  // Privileges and identities
  GrantStmt: 'dcl',
  GrantRoleStmt: 'dcl',
  AlterDefaultPrivilegesStmt: 'dcl',
  CreateRoleStmt: 'dcl',
  AlterRoleStmt: 'dcl',
  AlterRoleSetStmt: 'dcl',
  DropRoleStmt: 'dcl',
  ReassignOwnedStmt: 'dcl',
  DropOwnedStmt: 'dcl',
  CreatePolicyStmt: 'dcl',
  AlterPolicyStmt: 'dcl',
  CreateUserMappingStmt: 'dcl',
  AlterUserMappingStmt: 'dcl',
  DropUserMappingStmt: 'dcl',
  SecLabelStmt: 'dcl',

  // Maintenance, server and database administration, code loading
  VacuumStmt: 'admin',
  ClusterStmt: 'admin',
  ReindexStmt: 'admin',
  CheckPointStmt: 'admin',
  LoadStmt: 'admin',
  AlterSystemStmt: 'admin',
  CreatedbStmt: 'admin',
  AlterDatabaseStmt: 'admin',
  AlterDatabaseSetStmt: 'admin',
  AlterDatabaseRefreshCollStmt: 'admin',
  DropdbStmt: 'admin',
  CreateTableSpaceStmt: 'admin',
  DropTableSpaceStmt: 'admin',
  AlterTableSpaceOptionsStmt: 'admin',
  AlterTableMoveAllStmt: 'admin',
  CreatePublicationStmt: 'admin',
  AlterPublicationStmt: 'admin',
  CreateSubscriptionStmt: 'admin',
  AlterSubscriptionStmt: 'admin',
  DropSubscriptionStmt: 'admin',
  CreateExtensionStmt: 'admin',
  AlterExtensionStmt: 'admin',
  AlterExtensionContentsStmt: 'admin',
  CreatePLangStmt: 'admin',
  CreateFdwStmt: 'admin',
  AlterFdwStmt: 'admin',
  CreateAmStmt: 'admin',
  CreateEventTrigStmt: 'admin',
  AlterEventTrigStmt: 'admin',

  // Never at the top of a parse tree: the wrapper, post-analysis and PL/pgSQL-only nodes.
  RawStmt: null,
  SetOperationStmt: null,
  ReturnStmt: null,
  PLAssignStmt: null,
  ReplicaIdentityStmt: null,
};
