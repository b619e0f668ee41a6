/**
 * Settings a statement changes: SET/RESET, SET TRANSACTION, BEGIN options and
 * set_config() calls. Guarded settings (role, transaction_read_only, …) are
 * decided on from these, so anything not understood is reported as the
 * unknown setting "*" rather than left out.
 */
import type { DefElem, FuncCall, Node, TransactionStmt, VariableSetStmt } from 'libpg-query';
import type { SettingChange, StatementKind } from './facts.js';
import { UnclassifiedStatement } from './unclassified.js';

/** Stands for a setting whose name is unknown (non-literal set_config name, RESET ALL, DISCARD ALL). */
export const ANY_SETTING = '*';

/** The text of a literal constant, looking through casts ('x'::text); null when not a literal. */
export function literalText(node: Node | undefined): string | null {
  if (node === undefined) return null;
  if ('TypeCast' in node) return literalText(node.TypeCast.arg);
  if (!('A_Const' in node)) return null;
  const c = node.A_Const;
  // Protobuf JSON leaves out zero values: `ival: {}` is 0, `sval: {}` is ''.
  if (c.sval) return c.sval.sval ?? '';
  if (c.ival) return String(c.ival.ival ?? 0);
  if (c.fval) return c.fval.fval ?? '0';
  if (c.boolval) return c.boolval.boolval ? 'true' : 'false';
  if (c.bsval) return c.bsval.bsval ?? '';
  return null;
}

/** Settings and kind of SET/RESET (including SET TRANSACTION and SET SESSION CHARACTERISTICS). */
export function variableSetFacts(stmt: VariableSetStmt): {
  kind: StatementKind;
  settings: SettingChange[];
  transactionReadWrite: boolean | null;
} {
  const name = (stmt.name ?? '').toLowerCase();
  const local = stmt.is_local === true;
  switch (stmt.kind) {
    case 'VAR_SET_VALUE':
      return simple(name, { name, value: argsText(stmt.args), local, via: 'set' });
    case 'VAR_SET_DEFAULT':
    case 'VAR_SET_CURRENT':
      return simple(name, { name, value: null, local, via: 'set' });
    case 'VAR_RESET':
      return simple(name, { name, value: null, local, via: 'reset' });
    case 'VAR_RESET_ALL':
      return simple(name, { name: ANY_SETTING, value: null, local, via: 'reset' });
    case 'VAR_SET_MULTI':
      return multiSet(stmt);
    default:
      throw new UnclassifiedStatement(`SET of kind ${String(stmt.kind)}`);
  }
}

/** Role changes are access control; everything else SET/RESET does is session state. */
function simple(name: string, change: SettingChange) {
  const kind: StatementKind = name === 'role' || name === 'session_authorization' ? 'dcl' : 'session';
  return { kind, settings: [change], transactionReadWrite: null };
}

function multiSet(stmt: VariableSetStmt) {
  switch (stmt.name) {
    case 'TRANSACTION': {
      const settings = transactionOptionSettings(stmt.args, 'transaction');
      return { kind: 'transaction' as const, settings, transactionReadWrite: readWrite(settings) };
    }
    case 'SESSION CHARACTERISTICS': {
      // SET SESSION CHARACTERISTICS AS TRANSACTION … sets the default_transaction_* settings.
      const settings = transactionOptionSettings(stmt.args, 'set').map((s) => ({
        ...s,
        name: `default_${s.name}`,
        local: false,
      }));
      return { kind: 'session' as const, settings, transactionReadWrite: null };
    }
    case 'TRANSACTION SNAPSHOT': {
      const value = argsText(stmt.args);
      const settings: SettingChange[] = [
        { name: 'transaction_snapshot', value, local: true, via: 'transaction' },
      ];
      return { kind: 'transaction' as const, settings, transactionReadWrite: null };
    }
    default:
      throw new UnclassifiedStatement(`SET ${String(stmt.name)}`);
  }
}

/** Options of BEGIN / START TRANSACTION and their settings and read-write flag. */
export function transactionFacts(stmt: TransactionStmt): {
  settings: SettingChange[];
  transactionReadWrite: boolean | null;
} {
  const settings = transactionOptionSettings(stmt.options, 'transaction');
  return { settings, transactionReadWrite: readWrite(settings) };
}

/** transaction_read_only / transaction_deferrable arrive as integer 0/1; render them as on/off. */
function transactionOptionSettings(options: Node[] | undefined, via: SettingChange['via']): SettingChange[] {
  const settings: SettingChange[] = [];
  for (const option of options ?? []) {
    if (!('DefElem' in option)) throw new UnclassifiedStatement('transaction option that is not a DefElem');
    const def: DefElem = option.DefElem;
    const text = literalText(def.arg);
    const name = (def.defname ?? '').toLowerCase();
    const value = name === 'transaction_isolation' || text === null ? text : text === '0' ? 'off' : 'on';
    settings.push({ name, value, local: true, via });
  }
  return settings;
}

/** READ WRITE anywhere wins over READ ONLY: the permissive reading is the one to guard. */
function readWrite(settings: readonly SettingChange[]): boolean | null {
  const modes = settings.filter((s) => s.name === 'transaction_read_only');
  if (modes.length === 0) return null;
  return modes.some((s) => s.value !== 'on');
}

function argsText(args: Node[] | undefined): string | null {
  const parts = (args ?? []).map(literalText);
  if (parts.length === 0 || parts.some((p) => p === null)) return null;
  return parts.join(', ');
}

const SET_CONFIG_PARAMS = ['setting_name', 'new_value', 'is_local'] as const;

/**
 * The change a set_config(name, value, is_local) call makes. A name that is not
 * a literal is ANY_SETTING; is_local counts only when literally true, because a
 * session-wide change is the more consequential reading.
 */
export function setConfigChange(call: FuncCall): SettingChange {
  const args: (Node | undefined)[] = [];
  for (const [index, arg] of (call.args ?? []).entries()) {
    if ('NamedArgExpr' in arg) {
      const position = SET_CONFIG_PARAMS.indexOf(arg.NamedArgExpr.name as (typeof SET_CONFIG_PARAMS)[number]);
      if (position < 0) return { name: ANY_SETTING, value: null, local: false, via: 'set_config' };
      args[position] = arg.NamedArgExpr.arg;
    } else {
      args[index] = arg;
    }
  }
  const name = literalText(args[0]);
  const local = literalText(args[2]);
  return {
    name: name === null ? ANY_SETTING : name.toLowerCase(),
    value: literalText(args[1]),
    local: local !== null && ['true', 't', 'on', 'yes', 'y', '1'].includes(local.toLowerCase()),
    via: 'set_config',
  };
}
