#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { currentRecord } from '@pgwarden/crds';
import { toRecord } from '../approval/query-approval.js';
import { ApprovalQueue, PluginError } from './cluster.js';
import { formatDecision, formatRecord, formatTable } from './format.js';

const USAGE = `kubectl pgwarden: decide statements that pgwarden holds for approval (QueryApprovals)

Usage:
  kubectl pgwarden list [-A] [--pending]      the requests in the namespace, oldest first
  kubectl pgwarden show NAME [-o json]        one request: statement, parameters, requester, rule
  kubectl pgwarden approve NAME [--reason TEXT]
  kubectl pgwarden deny NAME [--reason TEXT]

Flags:
  -n, --namespace NS     default: the context's namespace, else "default"
  --context NAME         a context of the kubeconfig
  --kubeconfig PATH      default: $KUBECONFIG, else ~/.kube/config
  -A, --all-namespaces   list: every namespace
  --pending              list: only the requests still waiting for a decision
  -o, --output json      show: the object as JSON

Who decided is taken from your credentials by pgwarden's admission webhook.
You need the pgwarden-approver ClusterRole bound in the namespace and to be
one of the policy's approvers; the agent that asked can never decide.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      pending: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      reason: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  // Made on first use: an unknown command is reported as such, not as a kubeconfig problem.
  let made: ApprovalQueue | undefined;
  const queue = () => {
    made ??= new ApprovalQueue(values);
    return made;
  };
  const needName = () => {
    if (name === undefined || extra.length > 0)
      throw new PluginError(`${command} takes one approval name\n\n${USAGE}`);
    return name;
  };
  switch (command) {
    case 'list': {
      const all = values['all-namespaces'] ?? false;
      const items = await queue().list(all);
      // Pending as the sidecars see it: a request past expiresAt is expired even before the operator says so.
      const now = Date.now();
      const shown = values.pending
        ? items.filter((i) => currentRecord(toRecord(i), now).status.phase === 'Pending')
        : items;
      process.stdout.write(formatTable(shown, all, now));
      return 0;
    }
    case 'show': {
      const object = await queue().get(needName());
      if (values.output === 'json') process.stdout.write(`${JSON.stringify(object, null, 2)}\n`);
      else if (values.output === undefined)
        process.stdout.write(formatRecord(queue().namespace, toRecord(object)));
      else throw new PluginError(`--output ${values.output}: only json`);
      return 0;
    }
    case 'approve':
    case 'deny': {
      const approve = command === 'approve';
      const record = await queue().decide(needName(), approve, values.reason ?? null);
      process.stdout.write(formatDecision(record, approve));
      return 0;
    }
    default:
      throw new PluginError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
