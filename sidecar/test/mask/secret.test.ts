import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/secret.js';
import { matched } from './support.js';

const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4';
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`;
const GITHUB_CLASSIC = `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`;
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

describe('secret detector', () => {
  const positives: [text: string, found: string[]][] = [
    ['key AKIAIOSFODNN7EXAMPLE in use', ['AKIAIOSFODNN7EXAMPLE']],
    ['session ASIAY34FZKBOKMUTVV7A', ['ASIAY34FZKBOKMUTVV7A']],
    [`config:\n${PEM}\nend`, [PEM]],
    // Truncated (a text column cut short): everything from the header on.
    [`-----BEGIN PRIVATE KEY-----\n${PEM_BODY}`, [`-----BEGIN PRIVATE KEY-----\n${PEM_BODY}`]],
    [`token ${GITHUB_CLASSIC}`, [GITHUB_CLASSIC]],
    [
      'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
      ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'],
    ],
    ['slack xoxb-1234567890-abcdefghij', ['xoxb-1234567890-abcdefghij']],
    [`Authorization: Bearer ${JWT}`, [JWT]],
    ['DB_PASSWORD=hunter2', ['hunter2']],
    ['{"api_key": "abc123", "user": "bob"}', ['abc123']],
    ["password: 's3cr3t pass'", ['s3cr3t pass']],
    [
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ],
    ['postgres://app:s3cret@db:5432/app', ['s3cret']],
  ];
  it.each(positives)('finds %j', (text, found) => {
    expect(matched(text, find(text))).toEqual(found);
  });

  const negatives: [text: string, why: string][] = [
    ['AKIAIOSFODNN7EXAMPL', 'an access key id one character short'],
    ['AKIAIOSFODNN7EXAMPLEX', 'an access key id glued to more'],
    ['ghp_short', 'a GitHub prefix without a token'],
    ['xoxb-short', 'a Slack prefix without a token'],
    ['eyJhbGciOiJIUzI1NiJ9', 'a JWT header alone'],
    ['-----BEGIN PUBLIC KEY-----', 'a public key'],
    ['the password reset link was sent', 'a keyword without a value'],
    ['passwords: 3 attempts left', 'a keyword that is part of a longer word'],
    ['secretary: Jane Doe', 'a word that starts like a keyword'],
    ['pwd: /home/agent', 'pwd is the working directory'],
    ['https://example.com/path?q=1', 'a URL without a password'],
    ['the token was revoked', 'a keyword in prose'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
