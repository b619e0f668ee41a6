import { inspect } from 'node:util';

/**
 * Holds a credential so it cannot leak by accident: JSON, string conversion
 * and util.inspect (pino, console, error messages) all print "[redacted]".
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}
