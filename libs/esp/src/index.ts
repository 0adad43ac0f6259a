export type { LineSignals, Transport } from './transport.js';
/** Typed errors of the flasher and image tools (EspError, RomError, StubError). */
export * from './errors.js';
/** Chip targets: detection, eFuse decoding, register layouts, flash tables. */
export * from './targets/index.js';
/** Bootloader wire protocol: SLIP, opcodes, request/reply encoding, timeouts, the command connection. */
export * from './protocol/slip.js';
export * from './protocol/commands.js';
export * from './protocol/timeouts.js';
export * from './protocol/connection.js';
/** DTR/RTS reset strategies and the `D0|R1|W100` sequence notation. */
export * from './reset/sequence.js';
export * from './reset/strategies.js';
/** Espressif flasher stub images (read from the esptool-js package) and their upload. */
export * from './stub/images.js';
export * from './stub/upload.js';
/** The flasher: connect, identify, write, verify, read, erase, with retries and baud fallback. */
export * from './flasher/events.js';
export * from './flasher/connect.js';
export * from './flasher/detect.js';
export * from './flasher/session.js';
export * from './flasher/regions.js';
export * from './flasher/write.js';
export * from './flasher/run.js';
export * from './flasher/flash.js';
export * from './flasher/operations.js';
/** Firmware images: parser, app descriptor, partition table, flash-settings patch, writer, elf2image, merge-bin, Intel HEX, image-info. */
export * from './image/index.js';
/** ESP-IDF NVS partitions: generator, verifying reader, the NVS CSV format. */
export * from './nvs/index.js';
/** RFC 4180 CSV records (line numbers, no values in errors). */
export * from './csv/rfc4180.js';
/** Per-unit production data: serial-number patterns, per-unit CSVs with secret columns. */
export * from './unit-data/index.js';
