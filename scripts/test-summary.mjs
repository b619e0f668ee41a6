// Prints vitest's JSON report as one plain closing line, "vitest: N passed, N failed, N skipped",
// which CI reads whatever the runner.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = report.numPendingTests + report.numTodoTests;
process.stdout.write(
  `vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped\n`,
);
