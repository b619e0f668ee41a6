import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/email.js';
import { matched } from './support.js';

describe('email detector', () => {
  const positives: [text: string, found: string[]][] = [
    ['alice@example.com', ['alice@example.com']],
    ['bob.smith+tag@mail.co.uk', ['bob.smith+tag@mail.co.uk']],
    ['first_last@sub.domain.org', ['first_last@sub.domain.org']],
    ['x@y.io', ['x@y.io']],
    ['UPPER@EXAMPLE.COM', ['UPPER@EXAMPLE.COM']],
    ['user%relay@example.com', ['user%relay@example.com']],
    ['a-b@ex-ample.com', ['a-b@ex-ample.com']],
    ['jürgen@bücher.de', ['jürgen@bücher.de']],
    ['山田@例え.jp', ['山田@例え.jp']],
    ['mailto:alice@example.com', ['alice@example.com']],
    ['<alice@example.com>', ['alice@example.com']],
    ['{"email":"alice@example.com"}', ['alice@example.com']],
    ['?email=alice@example.com&x=1', ['alice@example.com']],
    ['write to alice@example.com.', ['alice@example.com']],
    ['...alice@example.com', ['alice@example.com']],
    ['a1@b2.travel, c3@d4.museum', ['a1@b2.travel', 'c3@d4.museum']],
    // A known false positive: an scp/git remote reads as an address.
    ['git@github.com:org/repo.git', ['git@github.com']],
  ];
  it.each(positives)('finds %j', (text, found) => {
    expect(matched(text, find(text))).toEqual(found);
  });

  const negatives: [text: string, why: string][] = [
    ['root@localhost', 'a bare host'],
    ['user@example', 'no top-level domain'],
    ['user@example.c', 'a one-letter top-level domain'],
    ['user@.example.com', 'an empty label'],
    ['user@example..com', 'an empty label'],
    ['user@-example.com', 'a label starting with "-"'],
    ['user@exa_mple.com', '"_" in a domain'],
    ['user@192.168.1.1', 'an IP address'],
    ['price 5@3.00', 'a numeric top-level domain'],
    ['@example.com', 'no local part'],
    ['user@', 'no domain'],
    ['user @example.com', 'no local part next to "@"'],
    ['twitter @handle', 'a handle'],
    ['@@@', 'only at signs'],
    ['a@b', 'neither'],
    ['no at sign here', 'no "@"'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
