import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StatementFacts } from '../../src/analyze/facts.js';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { loadPolicyFile } from '../../src/config/policy-file.js';
import { compilePolicy } from '../../src/decide/compile.js';
import { PolicyEngine } from '../../src/decide/engine.js';
import { ClientPool, pgClient } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import {
  type CorpusEntry,
  NOT_PREPARED,
  OUTCOME_CORPUS,
  type Outcome,
  PARSE_ERROR,
} from './outcome-corpus.js';
import { fixture, schemaSql, startPolicyProxy } from './support.js';
import { sendMessage, sessionState, upstreamState } from './wire-outcome.js';

const POLICIES = [
  { key: 'readOnly', file: 'read-only.yaml' },
  { key: 'readWrite', file: 'read-write.yaml' },
] as const;

interface Expected {
  outcome: Outcome;
  rule?: string;
}

function expected(entry: CorpusEntry, key: 'readOnly' | 'readWrite'): Expected {
  const rule = entry.rule?.[key];
  return { outcome: entry[key], ...(rule && { rule }) };
}

/** Test names: the category, the SQL on one line (long statements cut), and what was sent before it. */
function title(entry: CorpusEntry): string {
  const cut = (sql: string) => {
    const text = JSON.stringify(sql);
    return text.length > 100 ? `${text.slice(0, 97)}…` : text;
  };
  const setup = entry.setup ? ` after ${entry.setup.map(cut).join(', ')}` : '';
  return `${entry.category}: ${cut(entry.sql)}${setup}`;
}

const cases = OUTCOME_CORPUS.map((entry) => [title(entry), entry] as const);

it('the corpus covers at least 250 messages, each with a rule for every refusal', () => {
  expect(OUTCOME_CORPUS.length).toBeGreaterThanOrEqual(250);
  for (const entry of OUTCOME_CORPUS) {
    for (const { key } of POLICIES) {
      if (entry[key] !== 'allow') expect(entry.rule?.[key], `${entry.sql} (${key})`).toBeDefined();
    }
  }
});

describe('in process: classifier and engine', () => {
  const engines = new Map<string, PolicyEngine>();

  beforeAll(async () => {
    await ensureParserLoaded();
    for (const { key, file } of POLICIES) {
      engines.set(key, new PolicyEngine(compilePolicy(loadPolicyFile(fixture(file)))));
    }
  });

  describe.each(POLICIES)('$file', ({ key }) => {
    it.each(cases)('%s', (_title, entry) => {
      const engine = engines.get(key) as PolicyEngine;
      const prepared = new Map<string, StatementFacts>();
      let decided: Expected = { outcome: 'allow' };
      for (const sql of [...(entry.setup ?? []), entry.sql]) decided = decideInSession(engine, prepared, sql);
      const want = expected(entry, key);
      expect(want.rule ? decided : { outcome: decided.outcome }).toEqual(want);
    });
  });
});

/**
 * One message as the engine decides it within a session: SQL that does not
 * parse is refused, and EXECUTE is decided as the statement PREPAREd under its
 * name earlier in the session, this message included (docs/policy.md). What an
 * allowed message PREPAREs or DEALLOCATEs is kept in `prepared` for the next.
 */
function decideInSession(engine: PolicyEngine, prepared: Map<string, StatementFacts>, sql: string): Expected {
  const analysis = analyze(sql);
  if (!analysis.ok) {
    return {
      outcome: 'deny',
      rule: analysis.error.reason === 'parse' ? PARSE_ERROR : 'unclassified-statement',
    };
  }
  const session = new Map(prepared);
  const facts: StatementFacts[] = [];
  for (const { facts: f } of analysis.statements) {
    if (f.nodeType === 'ExecuteStmt') {
      const inner = session.get(f.refersTo?.name ?? '');
      // Nothing pgwarden allowed was prepared under that name: the message cannot be decided.
      if (inner === undefined) return { outcome: 'deny', rule: NOT_PREPARED };
      facts.push(inner);
      continue;
    }
    facts.push(f);
    if (f.defines?.kind === 'prepared' && f.inner) session.set(f.defines.name, f.inner);
    if (f.nodeType === 'DeallocateStmt') {
      if (f.refersTo?.name) session.delete(f.refersTo.name);
      else session.clear();
    }
  }
  const decision = engine.decideMessage(facts);
  if (decision.outcome === 'allow') {
    prepared.clear();
    for (const [name, inner] of session) prepared.set(name, inner);
  }
  return { outcome: decision.outcome, rule: decision.rule };
}

describe('through the proxy, against PostgreSQL', () => {
  const cluster = usePostgres();
  const pool = new ClientPool();
  /** A superuser connection straight to the server, to read what the proxy must not have let change. */
  let direct: pg.Client;

  beforeAll(async () => {
    await cluster().psql(schemaSql);
    direct = await pgClient(cluster().url());
  });
  afterEach(() => pool.endAll());
  afterAll(() => direct.end());

  describe.each(POLICIES)('$file', ({ key, file }) => {
    let proxy: TestProxy;
    beforeAll(async () => {
      proxy = await startPolicyProxy(cluster(), file);
    });
    afterAll(() => proxy.drain(1000));

    it.each(cases)('%s', async (_title, entry) => {
      const want = expected(entry, key);
      // A session of its own: no SET, PREPARE, cursor, LISTEN or open transaction of another entry
      // can change how this one is decided or what it does.
      const client = await pool.pg(proxy.url());
      for (const sql of entry.setup ?? []) await client.query(sql).catch(() => undefined);
      const refused = want.outcome !== 'allow';
      // A refused message must change nothing; under read-only access, neither may an allowed one.
      const serverBefore = refused || key === 'readOnly' ? await upstreamState(direct) : null;
      const sessionBefore = refused ? await sessionState(client) : null;

      const result = await sendMessage(client, entry.sql);

      if (refused) {
        expect({ outcome: result.outcome, rule: result.rule, code: result.code }).toEqual({
          outcome: want.outcome,
          rule: want.rule,
          code: refusalCode(want.rule),
        });
        expect(await sessionState(client), 'session state').toBe(sessionBefore);
      } else {
        // Either it ran, or PostgreSQL itself refused it: not pgwarden either way.
        expect({ outcome: result.outcome, rule: result.rule }, result.serverError).toEqual({
          outcome: 'allow',
          rule: null,
        });
      }
      if (serverBefore !== null) expect(await upstreamState(direct), 'server state').toBe(serverBefore);
      // An allowed message may leave a transaction open, holding locks the next entry would wait on.
      await client.query('ROLLBACK');
    });
  });
});

function refusalCode(rule: string | undefined): string {
  if (rule === PARSE_ERROR) return '42601';
  if (rule === NOT_PREPARED) return '26000';
  return '42501';
}
