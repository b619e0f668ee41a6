import { z } from 'zod';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "64MiB", "1GiB", "4096" → bytes. */
export const ByteSize = z.string().transform((s, ctx) => {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(s.trim());
  const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a size; use bytes or KiB/MiB/GiB, e.g. 64MiB` });
    return z.NEVER;
  }
  return Number(m[1]) * unit;
});

/** "30s", "500ms", "2m" → milliseconds. */
export const Duration = z.string().transform((s, ctx) => {
  const m = /^(\d+)\s*(ms|s|m|h)$/.exec(s.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; use ms, s, m or h, e.g. 30s` });
    return z.NEVER;
  }
  return Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
});

/** "host:port", "[::1]:port" or ":port" (all interfaces) → parts. */
export const HostPort = z.string().transform((s, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not host:port, e.g. 127.0.0.1:6432` });
    return z.NEVER;
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
});
