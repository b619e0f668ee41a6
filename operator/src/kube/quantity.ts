/**
 * Kubernetes quantities (resource.Quantity) as the operator meets them in its
 * flags: a decimal number with an optional binary (Ki…Ei), decimal (k…E),
 * milli (m) or exponent (e3) suffix.
 */
const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity's value (bytes, for a size), or null when it is not a quantity. */
export function quantityValue(text: string): number | null {
  const match = QUANTITY.exec(text);
  if (!match) return null;
  const suffix = match[2] ?? '';
  const multiplier = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (MULTIPLIERS[suffix] ?? 1);
  return Number(match[1]) * multiplier;
}
