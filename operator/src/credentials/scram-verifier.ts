import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);
const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

/** PostgreSQL's default scram_iterations. */
const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid.rolpassword
 * (RFC 5802: StoredKey and ServerKey from the salted password). Handing the
 * server the verifier instead of the password keeps the password out of its
 * statement log and pg_stat_activity: `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'`
 * is stored as given, as psql's \password does. SASLprep is not applied: the
 * passwords pgwarden generates are ASCII, which it leaves unchanged.
 */
export async function scramVerifier(password: string, salt = randomBytes(16)): Promise<string> {
  const salted = await pbkdf2Async(password, salt, ITERATIONS, 32, 'sha256');
  const storedKey = sha256(hmac(salted, 'Client Key')).toString('base64');
  const serverKey = hmac(salted, 'Server Key').toString('base64');
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey}:${serverKey}`;
}
