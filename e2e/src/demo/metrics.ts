const metricName = 'pgwarden_client_messages_total';

// Frontend message types psql uses, for reading the metric's `type` label.
const messageTypes: Record<string, string> = {
  Q: 'simple Query',
  X: 'Terminate',
  P: 'Parse',
  B: 'Bind',
  E: 'Execute',
  S: 'Sync',
  D: 'Describe',
  C: 'Close',
  H: 'Flush',
  d: 'CopyData',
  c: 'CopyDone',
  F: 'FunctionCall',
};

/** The proxy's per-message-type counters of client messages, from its /metrics, annotated. */
export async function clientMessageMetrics(adminPort: number): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const lines = (await response.text()).split('\n').filter((line) => line.startsWith(metricName));
  if (lines.length === 0) throw new Error(`/metrics has no ${metricName}`);
  return lines.map((line) => {
    const type = /type="(.)"/.exec(line)?.[1];
    const meaning = type && messageTypes[type];
    return meaning ? `${line.padEnd(48)}  # ${meaning}` : line;
  });
}
