#!/usr/bin/env node
import { ConfigError } from '../config/config-error.js';
import { loadProxyConfig, type ProxyOptions } from '../config/proxy-config.js';
import { createLogger } from '../observe/log.js';
import { startProxy } from '../proxy/server.js';
import { sidecarVersion } from '../version.js';
import { ApprovalApiError, runApprovalsCommand } from './approvals-command.js';
import { runPolicyCommand } from './policy-command.js';
import { proxyHelp, readProxyOptions } from './proxy-command.js';
import { runReplayCommand } from './replay-command.js';

const USAGE = `Usage: pgwarden <command> [options]

Commands:
  proxy      Run the Postgres proxy (pgwarden proxy --help)
  policy     Test SQL against a policy file (pgwarden policy --help)
  replay     List, print and verify session recordings (pgwarden replay --help)
  approvals  List, show, approve and deny held statements (pgwarden approvals --help)
  version    Print the version
  help       Show this help
`;

async function runProxy(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(proxyHelp());
    return 0;
  }
  const config = loadProxyConfig(readProxyOptions(argv, process.env) as ProxyOptions);
  const log = createLogger(config.logLevel, 1, config.logFormat);
  const proxy = await startProxy(config, log);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutdown requested');
      proxy.drain().then(resolve, resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  log.flush();
  return 0;
}

/** replay --follow runs until the recording is sealed; SIGINT ends it with a summary instead of killing it. */
function runReplay(argv: string[]): Promise<number> {
  if (!argv.includes('--follow')) return runReplayCommand(argv);
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  return runReplayCommand(argv, {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    signal: interrupted.signal,
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'proxy':
      return runProxy(rest);
    case 'policy':
      return runPolicyCommand(rest);
    case 'replay':
      return runReplay(rest);
    case 'approvals':
      return runApprovalsCommand(rest);
    case 'version':
    case '--version':
      process.stdout.write(`pgwarden ${sidecarVersion()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`pgwarden: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`pgwarden: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof ApprovalApiError) {
      process.stderr.write(`pgwarden: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`pgwarden: ${(err as Error).message ?? err}\n`);
    process.exitCode = 1;
  },
);
