import { z } from 'zod';
import { BUILTIN_RULES } from '../builtin-rules.js';
import { DEFAULT_FUNCTION_DENY_LIST } from '../function-deny-list.js';
import { AgentAccessPolicySchema } from '../policy.js';
import { STATEMENT_KIND_DESCRIPTIONS } from '../statement-kinds.js';
import { fieldRows, type JsonSchema } from './json-schema-fields.js';

/** The generated blocks of docs/policy.md, by block name. */
export function policyReferenceBlocks(): Record<string, string> {
  return {
    'statement-kinds': table(
      ['Kind', 'Statements'],
      Object.entries(STATEMENT_KIND_DESCRIPTIONS).map(([kind, text]) => [`\`${kind}\``, text]),
    ),
    'builtin-rules': table(
      ['Rule', 'What it does'],
      Object.entries(BUILTIN_RULES).map(([name, text]) => [`\`${name}\``, text]),
    ),
    'function-deny-list': table(
      ['Pattern', 'Why it is denied'],
      DEFAULT_FUNCTION_DENY_LIST.map((f) => [`\`${f.pattern}\``, f.reason]),
    ),
    fields: fieldReference(),
  };
}

function fieldReference(): string {
  const schema = z.toJSONSchema(AgentAccessPolicySchema, { io: 'input' }) as JsonSchema;
  return table(
    ['Field', 'Type', 'Description'],
    fieldRows(schema).map((row) => {
      const notes = [
        row.required ? 'Required.' : '',
        row.default !== undefined ? `Default \`${defaultText(row.default)}\`.` : '',
      ];
      return [`\`${row.path}\``, row.type, [...notes, row.description].filter((s) => s !== '').join(' ')];
    }),
  );
}

function defaultText(value: unknown): string {
  if (value === '') return '""';
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/** Table cells are single lines; a bare "|" would end the cell. Escaped pipes are left alone. */
function escapeCell(text: string): string {
  return text.replace(/\n/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}
