import { describe, expect, it } from 'vitest';
import { StartupCode } from '../../src/wire/codes.js';
import { ProtocolViolation } from '../../src/wire/reader.js';
import {
  encodeCancelRequest,
  encodeSSLRequest,
  encodeStartupMessage,
  parseStartupPacket,
  startupPacketLength,
} from '../../src/wire/startup.js';

describe('startup packets', () => {
  it('round-trips a StartupMessage with its parameters in order', () => {
    const params: [string, string][] = [
      ['user', 'agent'],
      ['database', 'app'],
      ['application_name', 'psql'],
    ];
    const packet = encodeStartupMessage(params);
    expect(startupPacketLength(packet, 0)).toBe(packet.length);
    const parsed = parseStartupPacket(packet);
    expect(parsed).toEqual({ kind: 'startup', major: 3, minor: 0, params: new Map(params) });
  });

  it('recognises SSLRequest, GSSENCRequest and CancelRequest', () => {
    expect(parseStartupPacket(encodeSSLRequest())).toEqual({ kind: 'ssl' });
    const gss = Buffer.alloc(8);
    gss.writeUInt32BE(8, 0);
    gss.writeUInt32BE(StartupCode.GSSENCRequest, 4);
    expect(parseStartupPacket(gss)).toEqual({ kind: 'gssenc' });
    expect(parseStartupPacket(encodeCancelRequest(1234, 0xfedcba98))).toEqual({
      kind: 'cancel',
      pid: 1234,
      secret: 0xfedcba98,
    });
  });

  it('bounds the length word before anything is buffered', () => {
    const tooLong = Buffer.alloc(4);
    tooLong.writeUInt32BE(10_001, 0);
    expect(() => startupPacketLength(tooLong, 0)).toThrow(ProtocolViolation);
    const tooShort = Buffer.alloc(4);
    tooShort.writeUInt32BE(7, 0);
    expect(() => startupPacketLength(tooShort, 0)).toThrow(ProtocolViolation);
  });

  it('refuses protocol 2 and a parameter without a value', () => {
    const v2 = Buffer.alloc(9);
    v2.writeUInt32BE(9, 0);
    v2.writeUInt32BE(0x00020000, 4);
    expect(() => parseStartupPacket(v2)).toThrow(/unsupported frontend protocol 2.0/);
    const packet = Buffer.concat([encodeStartupMessage([]).subarray(0, 8), Buffer.from('user\0')]);
    packet.writeUInt32BE(packet.length, 0);
    expect(() => parseStartupPacket(packet)).toThrow(/has no value/);
  });
});
