import { pgwardenCli } from '../processes/pgwarden.js';
import type { ApproverDecision } from './walkthrough.js';

/**
 * The human of the scripted demo: waits for each statement the session holds,
 * decides it with `pgwarden approvals`, and returns what that human typed and
 * saw. Fails when the session ends before every decision was taken, so the
 * demo cannot pass without showing a held statement.
 */
export async function decideHeld(
  approvalPort: number,
  decisions: readonly ApproverDecision[],
  session: Promise<unknown>,
): Promise<string> {
  const api = ['--api', `127.0.0.1:${approvalPort}`];
  let ended = false;
  void session.then(
    () => {
      ended = true;
    },
    () => {
      ended = true;
    },
  );
  const transcript: string[] = [];
  for (const decision of decisions) {
    const listed = await untilPending(api, () => ended);
    transcript.push('$ pnpm pgwarden approvals list --pending', listed.table.trimEnd());
    const args = [decision.action, listed.id, '--as', decision.as, '--reason', decision.reason];
    const result = await pgwardenCli(['approvals', ...args, ...api]);
    if (result.code !== 0) throw new Error(`pgwarden approvals ${args.join(' ')} failed: ${result.stderr}`);
    transcript.push(`$ pnpm pgwarden approvals ${args.map(shellWord).join(' ')}`, result.stdout.trimEnd());
  }
  return `${transcript.join('\n')}\n`;
}

async function untilPending(api: string[], ended: () => boolean): Promise<{ id: string; table: string }> {
  for (;;) {
    const result = await pgwardenCli(['approvals', 'list', '--pending', ...api]);
    if (result.code !== 0) throw new Error(`pgwarden approvals list failed: ${result.stderr}`);
    const id = /^apr-[0-9a-z]+/m.exec(result.stdout)?.[0];
    if (id) return { id, table: result.stdout };
    if (ended()) throw new Error('the session ended without holding a statement for approval');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
