import { FlashErrorCode } from '#contracts';

/** Options carried by every TransportError. */
export interface TransportErrorOptions {
  /** The port as a person would name it ("/dev/ttyUSB0", "rfc2217://host:4000"). */
  port?: string;
  cause?: unknown;
}

/** A transport failure with a stable FlashErrorCode (TIMEOUT, DEVICE_GONE, PORT_BUSY, PORT_NOT_FOUND, ...). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: FlashErrorCode;
  readonly port: string | undefined;

  constructor(code: FlashErrorCode, message: string, options: TransportErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.port = options.port;
  }
}

/** True when err is a TransportError with the given code. */
export function isTransportError(err: unknown, code?: FlashErrorCode): err is TransportError {
  return err instanceof TransportError && (code === undefined || err.code === code);
}

/** The error a read or write gets after the port went away or was closed. */
export function deviceGone(port: string, reason: string, cause?: unknown): TransportError {
  return new TransportError(FlashErrorCode.DEVICE_GONE, `${port}: ${reason}`, { port, cause });
}

/** What reads pending at close(), and reads after it, get: the caller closed the port; nothing broke. */
export function portClosed(port: string): TransportError {
  return new TransportError(FlashErrorCode.CANCELLED, `${port}: port closed`, { port });
}
