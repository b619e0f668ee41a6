#!/usr/bin/env node
import { textLogOptions } from '@pgwarden/crds';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError, loadConfig, usage } from './process/config.js';
import { Operator } from './process/operator.js';

// pgwarden-operator: flags and PGWARDEN_OPERATOR_* variables, logs on stdout
// (JSON lines, or readable lines with --log-format text). Exit codes: 0 after
// a clean shutdown, 1 on a fatal error or a shutdown that timed out, 2 on
// invalid configuration.

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  process.stdout.write(usage());
  process.exit(0);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(argv, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`pgwarden-operator: ${error.message}\n\n${usage()}`);
  process.exit(2);
}

const logger = pino(
  { level: config.logLevel, base: { identity: config.identity } },
  config.logFormat === 'text' ? pretty(textLogOptions()) : undefined,
);
let operator: Operator;
try {
  operator = new Operator(config, logger);
} catch (error) {
  // An unreadable kubeconfig, say: one fatal line, not a stack trace.
  logger.fatal({ error: String(error) }, 'operator failed to start');
  process.exit(1);
}

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'signal received');
  const timer = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeout }, 'shutdown timed out');
    process.exit(1);
  }, config.shutdownTimeout);
  timer.unref();
  operator.shutdown().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ error: String(error) }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

operator.start().catch((error: unknown) => {
  logger.fatal({ error: String(error) }, 'operator failed to start');
  process.exit(1);
});
