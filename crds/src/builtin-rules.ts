/**
 * Rules every policy has before and after its own, in evaluation order, plus
 * the names the proxy and the CLI give refusals that happen before a policy is
 * consulted. Decisions and recordings carry these names, so policies may not
 * reuse them.
 */
export const BUILTIN_RULES = {
  'unknown-kind':
    'Denies a statement whose kind this version of the policy engine does not know, as a newer classifier could report (fail closed).',
  'guarded-setting':
    'Denies SET, RESET and set_config() of settings pgwarden relies on: role and session_authorization always; default_transaction_read_only and transaction_read_only always (BEGIN/SET TRANSACTION options are left to read-only-access); RESET ALL and settings whose name is not a literal; search_path under read-only access; statement_timeout to 0, to a value that is not a literal, or above limits.statementTimeout when that limit is set; standard_conforming_strings, backslash_quote and session_replication_role (which switches off foreign-key checks) always, and client_encoding to an encoding that can hide a quote in a multibyte character (SJIS, BIG5, GBK, UHC, GB18030, JOHAB), since either would make the server read a statement differently from how pgwarden read it.',
  'copy-server-file':
    'Denies COPY to or from a file on the database server or a server-side PROGRAM, whatever the rules say. COPY … TO STDOUT and COPY … FROM STDIN are ordinary reads and writes.',
  'function-deny-list':
    'Denies statements that call a function on the default function deny list (below) unless spec.allowFunctions names it. User rules cannot allow these functions.',
  'read-only-access':
    'Under read-only access, denies statements of kind write, ddl, dcl, procedural and admin; data-modifying WITH clauses; EXPLAIN ANALYZE of anything but a read; row locks (FOR UPDATE/SHARE, LOCK TABLE); COPY … FROM; BEGIN or SET TRANSACTION … READ WRITE; and nextval()/setval(), which change sequences.',
  'default-deny': 'Denies a statement that no rule of the policy matches.',
  'empty-message': 'Allows a message that holds no statement (an empty query string).',
  'parse-error': 'Denies SQL that does not parse: pgwarden decides from the parse tree, never from the text.',
  'unclassified-statement': 'Denies a statement type the classifier does not know (fail closed).',
  'function-call-protocol':
    'A FunctionCall protocol message names its function by OID: pgwarden looks the name up in the catalog and decides the message as `SELECT schema.function(…)`, so the deny list and the rules apply. This rule denies it when the OID names no function or the lookup fails.',
  'unknown-prepared-statement':
    'Denies EXECUTE (or EXPLAIN EXECUTE) of a prepared statement this session did not PREPARE through pgwarden: its text was never decided, so it cannot run.',
  'queries-per-minute':
    'Denies statements beyond limits.queriesPerMinute, counted across all of the agent’s sessions; the error says how long to wait.',
  'masking-predicates':
    'Denies a statement that filters, joins, sorts, groups or windows on a masked column when spec.masking.predicates is deny: the answer would reveal the value a mask hides.',
  'masking-write':
    'Denies a write whose new values are computed from a masked column (UPDATE … SET x = ssn, INSERT … SELECT ssn …): the copy would leave the mask behind.',
  'masking-copy':
    'Denies COPY of a masked table where pgwarden cannot mask field by field: binary format, or COPY (SELECT *) whose columns it cannot place.',
  'masking-derived':
    'Denies a result column computed from a masked column when spec.masking.derived is deny.',
} as const satisfies Record<string, string>;
export type BuiltinRuleName = keyof typeof BUILTIN_RULES;
