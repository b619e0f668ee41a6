import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';

/** JSON over HTTPS as the sidecar-facing APIs (grants, approvals) speak it. */

/** Answers with `body` as JSON (none when undefined), never cached; nothing when the client is gone. */
export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

/** The body as JSON (an empty one is `empty` when given), or why it is not, for a 400. */
export async function readJson(
  req: IncomingMessage,
  maxBytes: number,
  empty?: unknown,
): Promise<{ ok: true; json: unknown } | { ok: false; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return { ok: false, error: `the body is larger than ${maxBytes} bytes` };
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (empty !== undefined && text.trim() === '') return { ok: true, json: empty };
  try {
    return { ok: true, json: JSON.parse(text) };
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
}

/** A schema's complaints about a body, each with its field path. */
export function bodyIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
