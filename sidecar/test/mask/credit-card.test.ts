import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/credit-card.js';
import { matched } from './support.js';

describe('credit-card detector', () => {
  const positives: [text: string, found: string[]][] = [
    ['4111111111111111', ['4111111111111111']],
    ['4111 1111 1111 1111', ['4111 1111 1111 1111']],
    ['4111-1111-1111-1111', ['4111-1111-1111-1111']],
    ['visa 13: 4222222222222', ['4222222222222']],
    ['visa 19: 4917610000000000003', ['4917610000000000003']],
    ['mastercard 5555555555554444', ['5555555555554444']],
    ['mastercard 2-series 2223003122003222', ['2223003122003222']],
    ['amex 378282246310005', ['378282246310005']],
    ['amex printed 3782 822463 10005', ['3782 822463 10005']],
    ['discover 6011 0009 9013 9424', ['6011 0009 9013 9424']],
    ['jcb 3530111333300000', ['3530111333300000']],
    ['diners 30569309025904', ['30569309025904']],
    ['diners 3622 720627 1667', ['3622 720627 1667']],
    ['unionpay 6200000000000005', ['6200000000000005']],
    ['maestro 6759649826438453', ['6759649826438453']],
    ['card 4111 1111 1111 1111 exp 12/25', ['4111 1111 1111 1111']],
    ['paid 4111 1111 1111 1111 12/25', ['4111 1111 1111 1111']],
    ['{"pan":"5105105105105100"}', ['5105105105105100']],
  ];
  it.each(positives)('finds %j', (text, found) => {
    expect(matched(text, find(text))).toEqual(found);
  });

  const negatives: [text: string, why: string][] = [
    ['4111111111111112', 'Luhn fails'],
    ['4111 1111 1111 1112', 'Luhn fails, grouped'],
    ['5105 1051 0510 5106', 'Luhn fails, Mastercard'],
    ['0000000000000000', 'passes Luhn, no issuer'],
    ['1234567812345670', 'passes Luhn, no issuer'],
    ['41111111111111113', 'passes Luhn, 17 digits is not a Visa length'],
    ['3782822463100052', 'passes Luhn, 16 digits is not an Amex length'],
    ['411111111117', 'passes Luhn, 12 digits'],
    ['41111111111111111115', 'passes Luhn, 20 contiguous digits are an id'],
    ['4111  1111 1111 1111', 'a double space splits the run'],
    ['4111_1111_1111_1111', 'underscores are not separators'],
    ['4111.1111.1111.1111', 'dots are not separators'],
    ['37828 2246 310005', 'not a printed grouping'],
    ['years 2024 2025 2026 2027', 'no issuer prefix'],
    ['phone +1 415 555 2671', 'too few digits'],
    ['order 12345678901234', 'no issuer prefix'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
