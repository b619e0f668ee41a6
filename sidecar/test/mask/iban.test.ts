import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/iban.js';
import { matched } from './support.js';

describe('iban detector', () => {
  const positives: [text: string, found: string[]][] = [
    ['DE89370400440532013000', ['DE89370400440532013000']],
    ['DE89 3704 0044 0532 0130 00', ['DE89 3704 0044 0532 0130 00']],
    ['GB82WEST12345698765432', ['GB82WEST12345698765432']],
    ['GB29 NWBK 6016 1331 9268 19', ['GB29 NWBK 6016 1331 9268 19']],
    ['FR14 2004 1010 0505 0001 3M02 606', ['FR14 2004 1010 0505 0001 3M02 606']],
    ['ES9121000418450200051332', ['ES9121000418450200051332']],
    ['IT60X0542811101000000123456', ['IT60X0542811101000000123456']],
    ['NL91ABNA0417164300', ['NL91ABNA0417164300']],
    ['BE68539007547034', ['BE68539007547034']],
    ['CH9300762011623852957', ['CH9300762011623852957']],
    ['AT611904300234573201', ['AT611904300234573201']],
    ['NO9386011117947', ['NO9386011117947']],
    ['PL61109010140000071219812874', ['PL61109010140000071219812874']],
    ['SA0380000000608010167519', ['SA0380000000608010167519']],
    ['IBAN: DE89 3704 0044 0532 0130 00 EUR', ['DE89 3704 0044 0532 0130 00']],
    ['{"iban":"IE29AIBK93115212345678"}', ['IE29AIBK93115212345678']],
    ['from DK5000400440116243 to FI2112345600000785', ['DK5000400440116243', 'FI2112345600000785']],
    [
      'DE89 3704 0044 0532 0130 00 GB29 NWBK 6016 1331 9268 19',
      ['DE89 3704 0044 0532 0130 00', 'GB29 NWBK 6016 1331 9268 19'],
    ],
  ];
  it.each(positives)('finds %j', (text, found) => {
    expect(matched(text, find(text))).toEqual(found);
  });

  const negatives: [text: string, why: string][] = [
    ['DE89370400440532013001', 'bad check'],
    ['DE89 3704 0044 0532 0130 01', 'bad check, printed'],
    ['DE8937040044053201300', 'one character short'],
    ['DE893704004405320130000', 'one character long'],
    ['DE89370400440532013000X', 'glued to a letter after'],
    ['XDE89370400440532013000', 'glued to a letter before'],
    ['XX89370400440532013000', 'no such country'],
    ['de89370400440532013000', 'lower case'],
    ['DE89 37040044 0532 0130 00', 'irregular grouping'],
    ['GB82 WEST 1234 5698 7654 3', 'short, printed'],
    ['GB00WEST12345698000026', 'check digits 00 are never issued'],
    ['ISBN 978-3-16-148410-0', 'an ISBN'],
    ['ORDER12345678901234567', 'letters that are not a country code'],
    ['NL91ABNA041716430', 'short'],
    ['no account number here', 'no candidate'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
