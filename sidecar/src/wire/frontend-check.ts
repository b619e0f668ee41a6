import { ProxyErrors } from '../errors/proxy-errors.js';
import { codeChar, FrontendCode, isFrontendCode } from './codes.js';
import { ProtocolViolation } from './reader.js';

export interface MessageLimits {
  /** Largest client message, header included. */
  maxMessageBytes: number;
  /** Largest CopyData message, header included. */
  maxCopyDataBytes: number;
}

/**
 * Vets a client message header before a single body byte is buffered: unknown
 * codes and lengths past the limit end the connection (08P01), so an untrusted
 * length field can never make the proxy allocate.
 */
export function checkFrontendHeader(code: number, length: number, limits: MessageLimits): void {
  if (!isFrontendCode(code))
    throw new ProtocolViolation(`unknown message type 0x${code.toString(16).padStart(2, '0')}`);
  const limit = code === FrontendCode.CopyData ? limits.maxCopyDataBytes : limits.maxMessageBytes;
  if (length + 1 > limit) throw ProxyErrors.messageTooLarge(codeChar(code), length + 1, limit);
}
