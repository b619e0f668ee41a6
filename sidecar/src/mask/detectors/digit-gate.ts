/**
 * The pre-check of the digit detectors (ssn, credit-card, phone's NANP form, iban):
 * each of their matches holds four digits in a row right after a digit or a digit
 * and one separator ("45-6789", "4111 1111", "555-2671", "DE89 3704"), while most
 * text does not (words, years, short ids, dates). One native regex scan costs about
 * as much as a JS loop over a tenth of the text, so no detector counts digits by hand.
 *
 * detect() asks the same question of one text up to four times in a row; the last
 * answer is kept so the scan runs once. Detection is synchronous, so nothing can
 * ask about another text in between.
 */

const DIGIT_GROUP = /\d[ .-]?\d{4}/;

let lastText: string | undefined;
let lastAnswer = false;

export function hasDigitGroup(text: string): boolean {
  if (text !== lastText) {
    lastText = text;
    lastAnswer = DIGIT_GROUP.test(text);
  }
  return lastAnswer;
}
