import type { FlashErrorCode } from '#contracts';

/** The phase of a flash session an error came from; shown in run logs and used by the retry policy. */
export type EspStage =
  | 'open'
  | 'reset'
  | 'sync'
  | 'detect'
  | 'stub'
  | 'baud'
  | 'attach'
  | 'erase'
  | 'write'
  | 'verify'
  | 'read'
  | 'run'
  | 'boot-check'
  | 'image';

/** Everything an EspError can carry besides its message. */
export interface EspErrorOptions {
  code: FlashErrorCode;
  stage?: EspStage;
  /** Opcode of the command in flight (see the protocol's opcode table). */
  command?: number;
  /** Structured facts for logs and problem bodies (addresses, sizes, status bytes). */
  detail?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * Base of every error thrown by libs/esp: a stable code and where it happened. What is done about
 * a code (retried where, counted against the board or not) is in FAILURE_POLICY of #contracts.
 */
export class EspError extends Error {
  readonly code: FlashErrorCode;
  readonly stage?: EspStage;
  readonly command?: number;
  readonly detail?: Record<string, unknown>;

  constructor(message: string, options: EspErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.stage = options.stage;
    this.command = options.command;
    this.detail = options.detail;
  }

  /** A plain object for logs and job results (Error fields are not enumerable). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      stage: this.stage,
      command: this.command,
      detail: this.detail,
    };
  }
}

/**
 * The board on the port is not the one the run was for (its MAC differs):
 * a fixture swapped its unit, or a cable moved. Thrown right after the MAC
 * is read, before anything is written. Retrying on this port cannot help; the
 * remedy is to rebind: the run belongs wherever the expected board is now.
 */
export class DeviceChangedError extends EspError {
  /** The MAC the caller expected (aa:bb:cc:dd:ee:ff). */
  readonly expectedMac: string;
  /** The MAC of the board that answered. */
  readonly actualMac: string;

  constructor(
    expectedMac: string,
    actualMac: string,
    options: { stage?: EspStage; port?: string; reconnect?: boolean } = {},
  ) {
    const where = options.port ? ` on ${options.port}` : '';
    super(
      options.reconnect
        ? `After reconnecting${where}, another board answered (${actualMac}, was ${expectedMac}); stopped before writing to it.`
        : `The board${where} is ${actualMac}, not the expected ${expectedMac}: another unit is on this port. Nothing was written; identify the port again.`,
      {
        code: 'DEVICE_CHANGED',
        stage: options.stage ?? 'detect',
        detail: { expectedMac, actualMac, port: options.port },
      },
    );
    this.expectedMac = expectedMac;
    this.actualMac = actualMac;
  }
}

/** Meaning of the ROM loader's error byte (second status byte when the first is 1). */
export const ROM_ERROR_TEXT: Readonly<Record<number, string>> = {
  0x00: 'undefined error',
  0x01: 'input parameter invalid',
  0x02: 'malloc failed',
  0x03: 'failed to send message',
  0x04: 'failed to receive message',
  0x05: 'received message has an invalid format (or the command is unknown or not allowed)',
  0x06: 'message OK but the operation failed',
  0x07: 'checksum error',
  0x08: 'flash write error (read-back check failed)',
  0x09: 'flash read error',
  0x0a: 'flash read length error',
  0x0b: 'deflate failed',
  0x0c: 'deflate Adler-32 error',
  0x0d: 'deflate parameter error',
  0x0e: 'invalid RAM binary size',
  0x0f: 'invalid RAM binary address',
  0x64: 'invalid parameter',
  0x65: 'invalid format',
  0x66: 'description too long',
  0x67: 'bad encoding description',
  0x69: 'insufficient storage',
};

/** The failure class of a ROM error byte: checksum errors are line noise, flash errors are the board. */
export function romErrorClass(error: number): FlashErrorCode {
  switch (error) {
    case 0x07:
      return 'FRAMING';
    case 0x08:
    case 0x09:
    case 0x0a:
      return 'FLASH_ERROR';
    default:
      return 'ROM_ERROR';
  }
}

/** Options of a RomError beyond the status bytes. */
export type RomErrorOptions = Omit<EspErrorOptions, 'code'> & { code?: FlashErrorCode };

/** The ROM loader replied with failed = 1; carries the raw status and its meaning. */
export class RomError extends EspError {
  /** First status byte (1 = failed). */
  readonly failed: number;
  /** Second status byte: the ROM's error code. */
  readonly error: number;
  /** Text from ROM_ERROR_TEXT, or "unknown ROM error". */
  readonly meaning: string;

  constructor(failed: number, error: number, options: RomErrorOptions = {}) {
    const meaning = ROM_ERROR_TEXT[error] ?? 'unknown ROM error';
    const what = options.command === undefined ? 'A command' : `Command ${hex8(options.command)}`;
    const status = `0x${((failed << 8) | error).toString(16)}`;
    super(`${what} failed in the ROM loader with status ${status}: ${meaning}. ${romAdvice(error)}`, {
      ...options,
      code: options.code ?? romErrorClass(error),
      detail: { ...options.detail, failed, error, meaning },
    });
    this.failed = failed;
    this.error = error;
    this.meaning = meaning;
  }
}

function romAdvice(error: number): string {
  switch (error) {
    case 0x05:
      return 'The ROM does not accept this command here (unsupported opcode or Secure Download Mode).';
    case 0x07:
      return 'Data was corrupted on the line; retry, or lower the baud rate.';
    case 0x08:
    case 0x09:
    case 0x0a:
      return 'The flash chip did not behave; check the flash and its power supply.';
    case 0x0b:
    case 0x0c:
    case 0x0d:
      return 'The compressed stream did not inflate; retry, or write uncompressed.';
    default:
      return 'Retry; if it persists, reset the board.';
  }
}

/** Meaning of the stub's first status byte. */
export const STUB_ERROR_TEXT: Readonly<Record<number, string>> = {
  0xc0: 'bad data length',
  0xc1: 'bad data checksum',
  0xc2: 'bad block size',
  0xc3: 'invalid command',
  0xc4: 'failed SPI operation',
  0xc5: 'failed SPI unlock',
  0xc6: 'not in flash mode',
  0xc7: 'inflate error',
  0xc8: 'not enough data',
  0xc9: 'too much data',
  0xca: 'NAND program failed',
  0xcb: 'NAND erase failed',
  0xff: 'command not implemented',
  0x32: 'erase address not sector-aligned',
  0x33: 'erase length not sector-aligned',
  0x34: 'flash unlock failed before erase',
  0x35: 'sector erase failed',
  0x36: 'block erase failed',
  0x37: 'sector erase failed',
  0x63: 'flash read failed while computing MD5',
};

/** The failure class of a stub status byte. */
export function stubErrorClass(code: number): FlashErrorCode {
  switch (code) {
    case 0xc1:
    case 0xc7:
      return 'FRAMING';
    case 0xc4:
    case 0xc5:
    case 0xca:
    case 0xcb:
    case 0x34:
    case 0x35:
    case 0x36:
    case 0x37:
    case 0x63:
      return 'FLASH_ERROR';
    default:
      return 'STUB_ERROR';
  }
}

/** Options of a StubError beyond the status bytes. */
export type StubErrorOptions = Omit<EspErrorOptions, 'code'> & { code?: FlashErrorCode };

/** The flasher stub replied with a non-zero status; carries both status bytes and the meaning. */
export class StubError extends EspError {
  /** First status byte: the error code. */
  readonly status: number;
  /** Second status byte: sub-status, usually 0. */
  readonly subStatus: number;
  /** Text from STUB_ERROR_TEXT, or "unknown stub error". */
  readonly meaning: string;

  constructor(status: number, subStatus: number, options: StubErrorOptions = {}) {
    const meaning = STUB_ERROR_TEXT[status] ?? 'unknown stub error';
    const what = options.command === undefined ? 'A command' : `Command ${hex8(options.command)}`;
    const raw = `${hex8(status).slice(2)}${hex8(subStatus).slice(2)}`;
    const advice =
      stubErrorClass(status) === 'FRAMING'
        ? 'Data was corrupted on the line; retry, or lower the baud rate.'
        : stubErrorClass(status) === 'FLASH_ERROR'
          ? 'The flash chip did not behave; check the flash and its power supply.'
          : 'Retry; if it persists, reset the board and upload the stub again.';
    super(`${what} failed in the flasher stub with status 0x${raw}: ${meaning}. ${advice}`, {
      ...options,
      code: options.code ?? stubErrorClass(status),
      detail: { ...options.detail, status, subStatus, meaning },
    });
    this.status = status;
    this.subStatus = subStatus;
    this.meaning = meaning;
  }
}

function hex8(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}
