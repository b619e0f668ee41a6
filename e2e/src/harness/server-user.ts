import { spawnSync } from 'node:child_process';
import { chown, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Who the server binaries run as when that is not ourselves. */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

// Created by Debian's postgresql-common, so it exists wherever the server
// packages do.
const debianServerUser = 'postgres';

/**
 * undefined when we can run initdb and postgres ourselves; the `postgres` user when we are root,
 * because both refuse to run as root (a superuser-owned cluster would let SQL write any file).
 */
export function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = idNumber('-u');
  const gid = idNumber('-g');
  if (uid === undefined || gid === undefined) {
    throw new Error(
      `running as root, but there is no '${debianServerUser}' user to run initdb and postgres as ` +
        '(`apt-get install postgresql` creates it); or run the tests as an unprivileged user',
    );
  }
  return { name: debianServerUser, uid, gid };
}

/** Hands a directory tree we created over to the server user. */
export async function chownTree(path: string, user: ServerUser): Promise<void> {
  await chown(path, user.uid, user.gid);
  for (const entry of await readdir(path, { recursive: true })) {
    await chown(join(path, entry), user.uid, user.gid);
  }
}

function idNumber(flag: '-u' | '-g'): number | undefined {
  const result = spawnSync('id', [flag, debianServerUser], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  const value = Number.parseInt(result.stdout, 10);
  return Number.isInteger(value) ? value : undefined;
}
