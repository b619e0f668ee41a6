import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// Debian/Ubuntu install each major version side by side here; only
// postgresql-common's wrappers land on PATH, never initdb itself.
const debianVersionsDir = '/usr/lib/postgresql';

let located: string | undefined;

/**
 * The directory holding the machine's PostgreSQL server binaries: `PGWARDEN_PG_BINDIR` if set,
 * else `pg_config --bindir` when it has initdb (with only libpq-dev installed it points at /usr/bin,
 * which has no server), else the newest /usr/lib/postgresql/<version>/bin.
 */
export function pgBinDir(): string {
  located ??= locate();
  return located;
}

/** Absolute path of one PostgreSQL binary (initdb, pg_ctl, psql, pgbench…) from {@link pgBinDir}. */
export function pgBin(name: string): string {
  const path = join(pgBinDir(), name);
  if (!existsSync(path)) {
    throw new Error(`${name} is not in ${pgBinDir()}; the PostgreSQL installation there lacks it`);
  }
  return path;
}

function locate(): string {
  const override = process.env.PGWARDEN_PG_BINDIR;
  if (override) {
    if (hasInitdb(override)) return override;
    throw new Error(
      `PGWARDEN_PG_BINDIR=${override} has no initdb; point it at a PostgreSQL server bin directory`,
    );
  }
  const fromPgConfig = pgConfigBinDir();
  if (fromPgConfig && hasInitdb(fromPgConfig)) return fromPgConfig;
  const fromDebian = newestDebianBinDir();
  if (fromDebian) return fromDebian;
  throw new Error(
    'No PostgreSQL server binaries (initdb) found in PGWARDEN_PG_BINDIR, `pg_config --bindir` or ' +
      `${debianVersionsDir}/*/bin. Install them with \`apt-get install postgresql\` ` +
      '(or a given major version, e.g. `apt-get install postgresql-15`), ' +
      'or set PGWARDEN_PG_BINDIR to a directory containing initdb.',
  );
}

function hasInitdb(dir: string): boolean {
  return existsSync(join(dir, 'initdb'));
}

function pgConfigBinDir(): string | undefined {
  const result = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.trim() || undefined;
}

function newestDebianBinDir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(debianVersionsDir);
  } catch {
    return undefined;
  }
  return versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((v) => join(debianVersionsDir, v, 'bin'))
    .find(hasInitdb);
}
