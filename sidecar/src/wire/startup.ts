import { StartupCode } from './codes.js';
import { ProtocolViolation } from './reader.js';
import { MessageWriter } from './writer.js';

/** PostgreSQL's own bound on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: number }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

/** Reads the length word of an untagged packet and bounds it before anything is buffered. */
export function startupPacketLength(buf: Buffer, offset: number): number {
  const length = buf.readUInt32BE(offset);
  if (length < 8 || length > MAX_STARTUP_PACKET) {
    throw new ProtocolViolation(`invalid startup packet length ${length}`);
  }
  return length;
}

/** Decodes one untagged startup-phase packet, length word included. */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const code = packet.readUInt32BE(4);
  switch (code) {
    case StartupCode.SSLRequest:
      return { kind: 'ssl' };
    case StartupCode.GSSENCRequest:
      return { kind: 'gssenc' };
    case StartupCode.CancelRequest:
      if (packet.length !== 16) throw new ProtocolViolation('invalid CancelRequest length');
      return { kind: 'cancel', pid: packet.readInt32BE(8), secret: packet.readUInt32BE(12) };
    default:
      return parseStartupMessage(packet, code);
  }
}

function parseStartupMessage(packet: Buffer, version: number): StartupPacket {
  const major = version >>> 16;
  const minor = version & 0xffff;
  if (major !== 3) throw new ProtocolViolation(`unsupported frontend protocol ${major}.${minor}`);
  const params = new Map<string, string>();
  let pos = 8;
  for (;;) {
    const keyEnd = packet.indexOf(0, pos);
    if (keyEnd < 0) throw new ProtocolViolation('startup packet is not NUL-terminated');
    if (keyEnd === pos) break;
    const valueEnd = packet.indexOf(0, keyEnd + 1);
    if (valueEnd < 0)
      throw new ProtocolViolation(`startup parameter "${packet.toString('utf8', pos, keyEnd)}" has no value`);
    params.set(packet.toString('utf8', pos, keyEnd), packet.toString('utf8', keyEnd + 1, valueEnd));
    pos = valueEnd + 1;
  }
  return { kind: 'startup', major, minor, params };
}

export function encodeStartupMessage(params: Iterable<[string, string]>): Buffer {
  const w = new MessageWriter(null, 128).int32(StartupCode.ProtocolV3);
  for (const [k, v] of params) w.cstring(k).cstring(v);
  return w.byte(0).finish();
}

export function encodeSSLRequest(): Buffer {
  return new MessageWriter(null, 8).int32(StartupCode.SSLRequest).finish();
}

export function encodeCancelRequest(pid: number, secret: number): Buffer {
  return new MessageWriter(null, 16)
    .int32(StartupCode.CancelRequest)
    .int32(pid)
    .int32(secret | 0)
    .finish();
}
