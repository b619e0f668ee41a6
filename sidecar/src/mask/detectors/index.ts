import { mergeSpans, NO_SPANS, type Span } from '../spans.js';
import * as creditCard from './credit-card.js';
import * as email from './email.js';
import * as iban from './iban.js';
import * as phone from './phone.js';
import * as secret from './secret.js';
import * as ssn from './ssn.js';

/**
 * The content detectors, by the names spec.masking.detectors uses. Each finds the
 * spans of one kind of sensitive value in a text; each starts with a check that
 * costs one scan and rejects most texts (too few digits, no "@", no secret keyword).
 */
const FINDERS = {
  ssn: ssn.find,
  'credit-card': creditCard.find,
  email: email.find,
  phone: phone.find,
  iban: iban.find,
  secret: secret.find,
} as const satisfies Record<string, (text: string) => readonly Span[]>;

export type DetectorName = keyof typeof FINDERS;

export const DETECTOR_NAMES = Object.keys(FINDERS) as readonly DetectorName[];

/**
 * The spans of text that the enabled detectors find, sorted and merged (a card
 * number inside a "token=…" value is one span). Allocates nothing when nothing is found.
 */
export function detect(text: string, enabled: readonly DetectorName[]): readonly Span[] {
  let found: Span[] | undefined;
  for (const name of enabled) {
    const spans = FINDERS[name](text);
    if (spans.length > 0) {
      if (found === undefined) found = [...spans];
      else found.push(...spans);
    }
  }
  return found === undefined ? NO_SPANS : mergeSpans(found);
}
