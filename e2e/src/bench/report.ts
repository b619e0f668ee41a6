import type { HotFunction } from './cpu-profile.js';
import type { DecisionCost } from './decision-cost.js';
import { decisionCells, decisionHeader, decisionNote, decisionVerdict } from './decision-report.js';
import type { MaskedStreamReport } from './masked-stream.js';
import type { Sample } from './matrix.js';
import type { QueryMode } from './pgbench.js';
import { median } from './stats.js';
import type { StreamResult } from './stream.js';
import { markdownTable, textTable } from './table.js';
import { type ProxyTarget, proxyTargets, type TargetName, targetNames } from './targets.js';

/** Medians over the rounds of one (mode, clients, target) cell. */
export interface Row {
  mode: QueryMode;
  clients: number;
  target: TargetName;
  tps: number;
  tpsMin: number;
  tpsMax: number;
  latencyMs: number;
  vsDirect: number;
  vsPgbouncer: number;
  middleCpuUsPerTxn: number | undefined;
}

export interface Check {
  target: ProxyTarget;
  goal: string;
  met: boolean;
  detail: string;
}

export interface BenchReport {
  startedAt: string;
  durationSeconds: number;
  machine: { cpus: number; loadBefore: number[]; loadAfter: number[]; versions: Record<string, string> };
  options: { seconds: number; rounds: number };
  rows: Row[];
  checks: Check[];
  stream: StreamResult[];
  maskedStream: MaskedStreamReport;
  decisionCost: DecisionCost[];
  hotFunctions: HotFunction[] | undefined;
  samples: Sample[];
}

// The design's targets for the proxy (design §8).
const throughputFloor = 0.9;

export function summarize(samples: readonly Sample[]): Row[] {
  const groups = Map.groupBy(samples, (s) => `${s.mode}/${s.clients}`);
  return [...groups.values()].flatMap((group) => {
    const byTarget = new Map(
      targetNames.map((target) => [target, group.filter((s) => s.target === target)] as const),
    );
    const medianOf = (target: TargetName, pick: (s: Sample) => number) =>
      median((byTarget.get(target) ?? []).map(pick));
    const directTps = medianOf('direct', (s) => s.tps);
    const pgbouncerTps = medianOf('pgbouncer', (s) => s.tps);
    const first = group[0] as Sample;
    return targetNames.map((target): Row => {
      const tps = medianOf(target, (s) => s.tps);
      const all = (byTarget.get(target) ?? []).map((s) => s.tps);
      const cpu = (byTarget.get(target) ?? []).flatMap((s) =>
        s.middleCpuUsPerTxn === undefined ? [] : [s.middleCpuUsPerTxn],
      );
      return {
        mode: first.mode,
        clients: first.clients,
        target,
        tps,
        tpsMin: Math.min(...all),
        tpsMax: Math.max(...all),
        latencyMs: medianOf(target, (s) => s.latencyMs),
        vsDirect: tps / directTps,
        vsPgbouncer: tps / pgbouncerTps,
        middleCpuUsPerTxn: cpu.length ? median(cpu) : undefined,
      };
    });
  });
}

export function checkTargets(rows: readonly Row[]): Check[] {
  const modes = [...new Set(rows.map((r) => r.mode))];
  return proxyTargets.flatMap((proxy) => {
    const latency = modes.map((mode): Check => {
      const direct = findRow(rows, mode, 1, 'direct').latencyMs;
      const added = findRow(rows, mode, 1, proxy).latencyMs - direct;
      const pgbouncer = findRow(rows, mode, 1, 'pgbouncer').latencyMs - direct;
      return {
        target: proxy,
        goal: `${mode}, 1 client: ${proxy}'s added latency ≤ PgBouncer's`,
        met: added <= pgbouncer,
        detail: `${proxy} ${signedUs(added)}, PgBouncer ${signedUs(pgbouncer)} per transaction`,
      };
    });
    const throughput = modes.map((mode): Check => {
      const tps = findRow(rows, mode, 8, proxy).tps;
      const pgbouncer = findRow(rows, mode, 8, 'pgbouncer').tps;
      return {
        target: proxy,
        goal: `${mode}, 8 clients: ${proxy} TPS ≥ ${throughputFloor.toFixed(2)}× PgBouncer's`,
        met: tps / pgbouncer >= throughputFloor,
        detail: `${(tps / pgbouncer).toFixed(2)}× (${tps.toFixed(0)} vs ${pgbouncer.toFixed(0)} tps)`,
      };
    });
    return [...latency, ...throughput];
  });
}

function findRow(rows: readonly Row[], mode: QueryMode, clients: number, target: TargetName): Row {
  const row = rows.find((r) => r.mode === mode && r.clients === clients && r.target === target);
  if (!row) throw new Error(`no result for ${mode} ${clients} clients ${target}`);
  return row;
}

const matrixHeader = [
  'mode',
  'clients',
  'target',
  'TPS',
  'TPS range',
  'avg latency ms',
  'vs direct',
  'vs PgBouncer',
  'µs CPU/txn (middle)',
];

function matrixCells(rows: readonly Row[]): string[][] {
  return rows.map((r) => [
    r.mode,
    String(r.clients),
    r.target,
    r.tps.toFixed(0),
    `${r.tpsMin.toFixed(0)}–${r.tpsMax.toFixed(0)}`,
    r.latencyMs.toFixed(3),
    `${r.vsDirect.toFixed(2)}×`,
    `${r.vsPgbouncer.toFixed(2)}×`,
    r.middleCpuUsPerTxn === undefined ? '—' : r.middleCpuUsPerTxn.toFixed(1),
  ]);
}

const streamHeader = [
  'target',
  'seconds',
  'vs direct',
  'middle peak RSS MiB',
  'middle RSS before MiB',
  'middle CPU s',
];

function streamCells(stream: readonly StreamResult[]): string[][] {
  const direct = stream.find((s) => s.target === 'direct')?.seconds ?? Number.NaN;
  return stream.map((s) => [
    s.target,
    s.seconds.toFixed(2),
    `${(s.seconds / direct).toFixed(2)}×`,
    mib(s.middlePeakRssBytes),
    mib(s.middleRssBeforeBytes),
    s.middleCpuSeconds === undefined ? '—' : s.middleCpuSeconds.toFixed(2),
  ]);
}

function verdictLines(checks: readonly Check[]): string[] {
  return proxyTargets.flatMap((proxy) => {
    const own = checks.filter((c) => c.target === proxy);
    return [
      `Verdict: ${proxy} ${own.every((c) => c.met) ? 'MEETS' : 'DOES NOT MEET'} the pass-through targets.`,
      ...own.map((c) => `  ${c.met ? 'met    ' : 'NOT met'}  ${c.goal}: ${c.detail}`),
    ];
  });
}

/** What enforcing the bench policy adds to the pass-through proxy, cell by cell. */
function policyCostLines(rows: readonly Row[]): string[] {
  const cells = rows.filter((r) => r.target === 'pgwarden');
  return [
    'Policy on vs off (pgwarden+policy against pgwarden), medians:',
    ...cells.map((off) => {
      const on = findRow(rows, off.mode, off.clients, 'pgwarden+policy');
      const cpu =
        on.middleCpuUsPerTxn === undefined || off.middleCpuUsPerTxn === undefined
          ? '—'
          : signed(on.middleCpuUsPerTxn - off.middleCpuUsPerTxn);
      return (
        `  ${off.mode}, ${off.clients} client${off.clients === 1 ? '' : 's'}: ` +
        `${signedUs(on.latencyMs - off.latencyMs)} latency, ${cpu} µs CPU/txn, ${(on.tps / off.tps).toFixed(2)}× TPS`
      );
    }),
    // Why the modes differ: what the policy costs depends on how often the proxy must parse.
    'Simple mode inlines a random aid into each statement, so most miss the analysis cache and are parsed; ' +
      'prepared mode is decided once per connection, at Parse.',
  ];
}

/** What recording every session adds to the policy target, and what it stores per statement. */
function recordingCostLines(report: BenchReport): string[] {
  const cells = report.rows.filter((r) => r.target === 'pgwarden+policy');
  return [
    'Recording on vs off (pgwarden+policy+recording against pgwarden+policy; rows included, dir sink), medians:',
    ...cells.map((off) => {
      const on = findRow(report.rows, off.mode, off.clients, 'pgwarden+policy+recording');
      const bytes = median(
        report.samples.flatMap((s) =>
          s.target === on.target && s.mode === on.mode && s.clients === on.clients && s.recordedBytesPerTxn
            ? [s.recordedBytesPerTxn]
            : [],
        ),
      );
      const ratio = on.tps / off.tps;
      return (
        `  ${off.mode}, ${off.clients} client${off.clients === 1 ? '' : 's'}: ${ratio.toFixed(2)}× TPS ` +
        `(${ratio >= throughputFloor ? 'meets' : 'DOES NOT MEET'} the ≥ ${throughputFloor.toFixed(2)}× target), ` +
        `${signedUs(on.latencyMs - off.latencyMs)} latency, ${bytes.toFixed(0)} bytes spooled per statement`
      );
    }),
  ];
}

function streamNote(report: BenchReport): string {
  const stable = report.stream.every((s) => s.peakIsStreamOnly);
  return (
    `1M rows (${report.stream.length} paths, median of ${report.options.rounds}), psql into /dev/null; peak RSS ` +
    (stable ? 'measured during the stream only (VmHWM reset before it).' : 'is the lifetime peak (VmHWM).')
  );
}

function maskedStreamLines(m: MaskedStreamReport): string[] {
  const verdict = m.maskedVsPassThrough >= 0.7 ? 'meets' : 'DOES NOT MEET';
  return [
    'Masked stream: 1M rows of a table with 2 masked columns (hash, partial) and all 6 detectors on a free-text column, psql into /dev/null:',
    `  throughput pgwarden+masking = ${m.maskedVsPassThrough.toFixed(2)}× pgwarden without a policy (${verdict} the ≥ 0.7× target), ${m.maskedVsDirect.toFixed(2)}× direct.`,
  ];
}

function hotLines(hot: readonly HotFunction[]): string[] {
  return hot.map(
    (h) => `${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(7)} ms  ${h.frame}`,
  );
}

function header(report: BenchReport): string[] {
  const versions = Object.entries(report.machine.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `pgbench -S, ${report.options.rounds} interleaved rounds × ${report.options.seconds} s per cell, medians; ` +
      `${report.machine.cpus} CPUs, load ${load(report.machine.loadBefore)} → ${load(report.machine.loadAfter)}`,
    versions,
  ];
}

export function renderText(report: BenchReport): string {
  return [
    ...header(report),
    '',
    textTable(matrixHeader, matrixCells(report.rows)),
    '',
    ...verdictLines(report.checks),
    '',
    ...policyCostLines(report.rows),
    '',
    ...recordingCostLines(report),
    '',
    streamNote(report),
    textTable(streamHeader, streamCells(report.stream)),
    '',
    ...maskedStreamLines(report.maskedStream),
    textTable(streamHeader, streamCells(report.maskedStream.results)),
    '',
    decisionNote(),
    textTable(decisionHeader, decisionCells(report.decisionCost)),
    decisionVerdict(report.decisionCost),
    ...(report.hotFunctions
      ? ['', 'Pass-through proxy CPU profile, top self time:', ...hotLines(report.hotFunctions)]
      : []),
    '',
  ].join('\n');
}

export function renderMarkdown(report: BenchReport): string {
  return [
    `# pgwarden benchmark ${report.startedAt}`,
    '',
    ...header(report).map((l) => `${l}  `),
    '',
    markdownTable(matrixHeader, matrixCells(report.rows)),
    '',
    ...listed(verdictLines(report.checks)),
    '',
    ...listed(policyCostLines(report.rows)),
    '',
    ...listed(recordingCostLines(report)),
    '',
    streamNote(report),
    '',
    markdownTable(streamHeader, streamCells(report.stream)),
    '',
    ...listed(maskedStreamLines(report.maskedStream)),
    '',
    markdownTable(streamHeader, streamCells(report.maskedStream.results)),
    '',
    decisionNote(),
    '',
    markdownTable(decisionHeader, decisionCells(report.decisionCost)),
    '',
    decisionVerdict(report.decisionCost),
    ...(report.hotFunctions
      ? [
          '',
          '## Pass-through proxy CPU profile, top self time',
          '',
          '```',
          ...hotLines(report.hotFunctions),
          '```',
        ]
      : []),
    '',
  ].join('\n');
}

/** Indented detail lines become list items; the lines they belong to stay paragraphs. */
function listed(lines: readonly string[]): string[] {
  return lines.flatMap((l, i) => {
    if (l.startsWith('  ')) return [`- ${l.trim()}`];
    // A paragraph right after a list item would continue that item.
    return lines[i - 1]?.startsWith('  ') ? ['', l] : [l];
  });
}

function signedUs(ms: number): string {
  return `${signed(ms * 1000)} µs`;
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '—' : (bytes / 2 ** 20).toFixed(1);
}
