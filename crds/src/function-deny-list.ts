/**
 * Functions that reach outside what a policy's rules can see or govern: the
 * server's files, other connections, other sessions, SQL hidden in a string,
 * server control. Denied unless spec.allowFunctions names them. Patterns use
 * the policy's name-pattern syntax; a pattern without a schema matches the
 * function in every schema.
 */
export const DEFAULT_FUNCTION_DENY_LIST: readonly { pattern: string; reason: string }[] = [
  { pattern: 'pg_read_file', reason: 'reads any file the database server can read' },
  { pattern: 'pg_read_binary_file', reason: 'reads any file the database server can read' },
  { pattern: 'pg_stat_file', reason: 'inspects files on the database server' },
  { pattern: 'pg_ls_*', reason: 'lists directories on the database server' },
  { pattern: 'pg_file_*', reason: 'writes, renames or deletes files on the database server (adminpack)' },
  { pattern: 'pg_logdir_ls', reason: 'lists the server log directory (adminpack)' },
  {
    pattern: 'lo_*',
    reason:
      'large objects: lo_import/lo_export touch server files; the rest read and write large objects, which table rules cannot see',
  },
  { pattern: 'loread', reason: 'reads large objects, which table rules cannot see' },
  { pattern: 'lowrite', reason: 'writes large objects, which table rules cannot see' },
  {
    pattern: 'dblink*',
    reason:
      'opens connections to other databases, or to this one as another role, that pgwarden does not see',
  },
  { pattern: 'query_to_xml*', reason: 'runs SQL given as a string, which the policy cannot see' },
  { pattern: 'table_to_xml*', reason: 'reads a whole table named in a string, which table rules cannot see' },
  { pattern: 'schema_to_xml*', reason: 'reads every table of a schema named in a string' },
  { pattern: 'database_to_xml*', reason: 'reads every table of the database' },
  { pattern: 'ts_stat', reason: 'runs SQL given as a string, which the policy cannot see' },
  {
    pattern: 'ts_rewrite',
    reason: 'its two-argument form runs SQL given as a string, which the policy cannot see',
  },
  { pattern: 'crosstab*', reason: 'runs SQL given as a string, which the policy cannot see (tablefunc)' },
  {
    pattern: 'connectby',
    reason: 'reads a table named in a string, which table rules cannot see (tablefunc)',
  },
  { pattern: 'pg_terminate_backend', reason: 'ends other sessions, including the application’s' },
  { pattern: 'pg_cancel_backend', reason: 'cancels other sessions’ queries, including the application’s' },
  { pattern: 'pg_reload_conf', reason: 'reloads the server configuration' },
  { pattern: 'pg_rotate_logfile', reason: 'rotates the server log' },
  { pattern: 'pg_promote', reason: 'promotes a standby to primary' },
  { pattern: 'pg_switch_wal', reason: 'forces a WAL segment switch' },
  { pattern: 'pg_create_restore_point', reason: 'writes a named restore point into the WAL' },
  { pattern: 'pg_backup_*', reason: 'starts or stops a base backup' },
  { pattern: 'pg_start_backup', reason: 'starts a base backup (PostgreSQL 14 and older)' },
  { pattern: 'pg_stop_backup', reason: 'stops a base backup (PostgreSQL 14 and older)' },
  { pattern: 'pg_wal_replay_*', reason: 'pauses or resumes recovery on a standby' },
  {
    pattern: 'pg_log_backend_memory_contexts',
    reason: 'writes another backend’s memory state into the server log',
  },
  { pattern: 'pg_stat_reset*', reason: 'erases the server’s statistics, which monitoring depends on' },
  { pattern: 'pg_stat_statements_reset', reason: 'erases query statistics, which monitoring depends on' },
  { pattern: 'pg_*replication_slot*', reason: 'creates, copies, advances or drops replication slots' },
  {
    pattern: 'pg_logical_*',
    reason: 'reads the change stream of every table, or writes into it, past table rules',
  },
  { pattern: 'pg_replication_origin_*', reason: 'manipulates replication progress' },
  {
    pattern: 'pg_advisory*',
    reason: 'takes application advisory locks; a held lock can stall the jobs and deploys that use it',
  },
  {
    pattern: 'pg_try_advisory*',
    reason: 'takes application advisory locks; a held lock can stall the jobs and deploys that use it',
  },
  {
    pattern: 'pg_sleep*',
    reason: 'holds a connection, and every lock the transaction has, for as long as asked',
  },
];
