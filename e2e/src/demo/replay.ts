import { pgwardenCli } from '../processes/pgwarden.js';

/**
 * The recordings of the scripted sessions, once every one is sealed and
 * shipped to the sink: `pgwarden replay DIR --verify` lists each with its
 * chain checked. Returns what a user typing the commands would see, and the
 * transcript of the `index`-th session (recordings list in start order, one
 * per psql session).
 */
export async function replaySession(
  sinkDir: string,
  /** How many recordings to wait for; undefined: whatever is there, at least one. */
  sessions: number | undefined,
  /** Which one to print, in start order; -1 for the latest. */
  index: number,
): Promise<{ verified: string; transcript: string; command: string }> {
  const deadline = Date.now() + 60_000;
  let verified = '';
  for (;;) {
    const result = await pgwardenCli(['replay', sinkDir, '--verify']);
    verified = result.stdout;
    const sealed = verified.split('\n').filter((line) => /: OK, .* sealed/.test(line));
    if (result.code === 0 && sealed.length === (sessions ?? Math.max(1, sealed.length))) break;
    if (Date.now() > deadline) {
      throw new Error(`recordings not all sealed in ${sinkDir} after 60 s:\n${verified}${result.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const id = verified.trim().split('\n').at(index)?.split(':')[0] ?? '';
  const shown = await pgwardenCli(['replay', sinkDir, '--session', id]);
  if (shown.code !== 0) throw new Error(`pgwarden replay --session ${id} failed: ${shown.stderr}`);
  return {
    verified,
    transcript: shown.stdout,
    command: `pnpm pgwarden replay ${sinkDir} --session ${id}`,
  };
}
