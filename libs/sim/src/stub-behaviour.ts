/**
 * How each family of flasher stub behaves on the wire. The facts come from
 * the stubs' own sources, read at the tags named below:
 * - esptool's stub (esptool v4.0–v4.7.0 `flasher_stub/`, then
 *   espressif/esptool-legacy-flasher-stub v1.3.0–v1.11.1, `flasher_stub/stub_flasher.c`,
 *   `stub_commands.c`, `stub_write_flash.c`);
 * - esp-rs/esp-flasher-stub v0.3.0 (`src/protocol.rs`, `src/commands.rs`), the Rust stub
 *   esptool v4.8–v4.11 ship as `stub_flasher/2`;
 * - espressif/esp-flasher-stub v0.1.0–v1.1.0 (`src/command_handler.c`, `src/main.c`) and
 *   espressif/esp-stub-lib (`src/flash.c`), the C stub of esptool v5.2+ `stub_flasher/2`
 *   (esptool's default since v5.3.0) and of esptool-js 0.7.0.
 */
import { Op, StubError } from './protocol.js';

/** The stub families Espressif's tools ship. */
export type StubFamily =
  /** esptool's own C stub (`stub_flasher/1` since esptool v4.8; the only stub before). */
  | 'esptool-legacy'
  /** esp-rs/esp-flasher-stub, the Rust stub in esptool v4.8–v4.11 `stub_flasher/2` (opt-in). */
  | 'esp-rs-flasher-stub'
  /** espressif/esp-flasher-stub, the C stub of esptool v5.2+ `stub_flasher/2` and esptool-js 0.7.0. */
  | 'esp-flasher-stub'
  /** esp-flasher-stub v0.1.0, a placeholder in esptool v5.0–v5.1: attaches the flash and returns, never greets. */
  | 'esp-flasher-stub-skeleton';

/** What a stub does, as far as a host can see it. */
export interface StubBehaviour {
  family: StubFamily;
  /** Sends the OHAI frame once running (every real stub does; the skeleton does not). */
  greets: boolean;
  /**
   * The two status bytes of a failed reply: `code-first` = `<code> 00` (legacy stub,
   * esp-flasher-stub; esptool reads them as one big-endian 0xC300-style code),
   * `flag-first` = `01 <code>` (the Rust stub's Response { status: 1, error }).
   */
  statusLayout: 'code-first' | 'flag-first';
  /** Largest FLASH_(DEFL_)DATA payload (MAX_WRITE_BLOCK). */
  maxBlockBytes: number;
  /**
   * Erasing while writing: every stub erases just ahead of the write pointer
   * (64 KiB blocks where aligned, else 4 KiB sectors). `skip-blank-until-dirty`
   * (esp-flasher-stub ≥ v1.1.0) reads each sector first and skips blank ones
   * until it meets the first non-blank sector, then erases the rest unread.
   */
  erase: 'ahead' | 'skip-blank-until-dirty';
  /** FLASH_BEGIN refuses a block size above maxBlockBytes (BAD_BLOCKSIZE); esp-flasher-stub does not check. */
  beginChecksBlockSize: boolean;
  /** Code of a FLASH_(DEFL_)DATA whose length word disagrees with its payload. */
  dataLengthError: number;
  /**
   * Where the error of a block that was acknowledged before it was written shows up:
   * `next-flash-command` = on the next FLASH_(DEFL_)DATA ack or FLASH_END (legacy),
   * `next-command` = on the next command of any kind, which is then not executed (esp-flasher-stub),
   * `lost` = never (the Rust stub keeps it in a field nothing reads).
   */
  deferredError: 'next-flash-command' | 'next-command' | 'lost';
  /** Code of FLASH_END while declared data is still missing. */
  missingDataError: number;
  /** Code of an opcode the stub does not implement. */
  unknownCommandError: number;
  /** Opcodes answered with 0xFF (command not implemented) rather than unknownCommandError: empty plugin slots. */
  notImplementedOpcodes: readonly [number, number] | null;
  /** Code of ERASE_REGION on a range that is not sector-aligned. */
  misalignedEraseError: number;
  /**
   * The legacy stub computes some errors as `verify_data_len(...) || handler(...)`, a C
   * boolean: any failure of these opcodes goes out as code 0x01.
   */
  booleanErrorOps: readonly number[];
  /** FLASH_END(0) (esptool's reboot=True) resets the chip. esp-flasher-stub leaves it a TODO. */
  flashEndZeroReboots: boolean;
  /** What makes MEM_END jump: the legacy stub jumps to any non-zero entry, the newer ones when the flag is 0. */
  memEndJumps: 'entry-non-zero' | 'flag-zero';
  /**
   * READ_FLASH flow control: `in-flight-bytes` = the legacy stub compares the unacknowledged
   * bytes with the 4th argument (esptool sends 64, so one packet at a time), `packets` = the Rust
   * stub allows that many packets, `one-packet` = esp-flasher-stub hard-codes one.
   */
  readFlashWindow: 'in-flight-bytes' | 'packets' | 'one-packet';
  /** A frame longer than the stub's buffer: `reply-c0-ee` = legacy answers `C0 EE` status; others drop it. */
  oversizedFrame: 'reply-c0-ee' | 'drop';
  /** RUN_USER_CODE (0xD3): boots the app (legacy returns into the ROM's boot), resets (Rust), or is ignored. */
  runUserCode: 'run-app' | 'soft-reset' | 'ignore';
  /** Whether WRITE_REG applies every 16-byte tuple with its mask (the Rust stub writes only the first, unmasked). */
  writeRegAllTuples: boolean;
  /** Opcodes the stub implements; anything else is answered with unknownCommandError. */
  commands: readonly number[];
}

/** Opcode of the deprecated FLASH_ENCRYPT_DATA, still implemented by the legacy and Rust stubs. */
export const FLASH_ENCRYPT_DATA = 0xd4;

const COMMON_COMMANDS: readonly number[] = [
  Op.FLASH_BEGIN,
  Op.FLASH_DATA,
  Op.FLASH_END,
  Op.MEM_BEGIN,
  Op.MEM_END,
  Op.MEM_DATA,
  Op.SYNC,
  Op.WRITE_REG,
  Op.READ_REG,
  Op.SPI_SET_PARAMS,
  Op.SPI_ATTACH,
  Op.CHANGE_BAUDRATE,
  Op.FLASH_DEFL_BEGIN,
  Op.FLASH_DEFL_DATA,
  Op.FLASH_DEFL_END,
  Op.SPI_FLASH_MD5,
  Op.GET_SECURITY_INFO,
  Op.ERASE_FLASH,
  Op.ERASE_REGION,
  Op.READ_FLASH,
  Op.RUN_USER_CODE,
];

/** esptool's C stub, v4.0 to esptool-legacy-flasher-stub v1.11.1 (esptool v5.3.1 `stub_flasher/1`). */
export const LEGACY_STUB: StubBehaviour = {
  family: 'esptool-legacy',
  greets: true,
  statusLayout: 'code-first',
  maxBlockBytes: 0x4000,
  erase: 'ahead',
  beginChecksBlockSize: true,
  dataLengthError: StubError.BAD_DATA_LEN,
  deferredError: 'next-flash-command',
  missingDataError: StubError.NOT_ENOUGH_DATA,
  unknownCommandError: 0xff,
  notImplementedOpcodes: null,
  misalignedEraseError: 0x01,
  booleanErrorOps: [
    Op.ERASE_FLASH,
    Op.ERASE_REGION,
    Op.SPI_FLASH_MD5,
    Op.SPI_SET_PARAMS,
    Op.SPI_ATTACH,
    Op.MEM_BEGIN,
    Op.MEM_END,
    Op.GET_SECURITY_INFO,
  ],
  flashEndZeroReboots: true,
  memEndJumps: 'entry-non-zero',
  readFlashWindow: 'in-flight-bytes',
  oversizedFrame: 'reply-c0-ee',
  runUserCode: 'run-app',
  writeRegAllTuples: true,
  commands: [...COMMON_COMMANDS, FLASH_ENCRYPT_DATA],
};

/** esp-rs/esp-flasher-stub v0.3.0 (Rust), esptool v4.8.0–v4.11.0 `stub_flasher/2`. */
export const ESP_RS_STUB: StubBehaviour = {
  family: 'esp-rs-flasher-stub',
  greets: true,
  statusLayout: 'flag-first',
  maxBlockBytes: 0x4000,
  erase: 'ahead',
  beginChecksBlockSize: true,
  dataLengthError: StubError.BAD_DATA_LEN,
  deferredError: 'lost',
  missingDataError: StubError.NOT_ENOUGH_DATA,
  unknownCommandError: StubError.INVALID_COMMAND,
  notImplementedOpcodes: null,
  // ERASE_REGION goes straight to the ROM's esp_rom_spiflash_erase_area; a failure is EraseErr.
  misalignedEraseError: 0x36,
  booleanErrorOps: [],
  flashEndZeroReboots: true,
  memEndJumps: 'flag-zero',
  readFlashWindow: 'packets',
  oversizedFrame: 'drop',
  runUserCode: 'soft-reset',
  writeRegAllTuples: false,
  commands: [...COMMON_COMMANDS, FLASH_ENCRYPT_DATA],
};

/** espressif/esp-flasher-stub v0.4.0–v1.0.0: esptool v4.12.0 (v0.7.0), v5.3.0–v5.3.1 (v0.8.1 = v1.0.0). */
export const ESP_FLASHER_STUB: StubBehaviour = {
  family: 'esp-flasher-stub',
  greets: true,
  statusLayout: 'code-first',
  maxBlockBytes: 0x4000,
  erase: 'ahead',
  beginChecksBlockSize: false,
  dataLengthError: StubError.TOO_MUCH_DATA,
  deferredError: 'next-command',
  missingDataError: StubError.BAD_DATA_LEN,
  unknownCommandError: StubError.INVALID_COMMAND,
  // Plugin slots (PLUGIN_FIRST_OPCODE..PLUGIN_LAST_OPCODE) answer RESPONSE_CMD_NOT_IMPLEMENTED when empty.
  notImplementedOpcodes: [0xd5, 0xef],
  misalignedEraseError: StubError.BAD_DATA_LEN,
  booleanErrorOps: [],
  flashEndZeroReboots: false,
  memEndJumps: 'flag-zero',
  readFlashWindow: 'one-packet',
  oversizedFrame: 'drop',
  runUserCode: 'ignore',
  writeRegAllTuples: true,
  commands: COMMON_COMMANDS,
};

/** espressif/esp-flasher-stub v0.2.0 (esptool v5.2.0): before the plugin table, so 0xD5–0xEF are plain unknown opcodes. */
export const ESP_FLASHER_STUB_V0_2: StubBehaviour = {
  ...ESP_FLASHER_STUB,
  notImplementedOpcodes: null,
};

/** espressif/esp-flasher-stub v1.1.0 and later (v1.2.2 in esptool master and esptool-js 0.7.0): skips blank sectors. */
export const ESP_FLASHER_STUB_SKIP_BLANK: StubBehaviour = {
  ...ESP_FLASHER_STUB,
  erase: 'skip-blank-until-dirty',
};

/** espressif/esp-flasher-stub v0.1.0, esptool v5.0.0–v5.1.0 `stub_flasher/2`: returns at once, never greets. */
export const ESP_FLASHER_STUB_SKELETON: StubBehaviour = {
  ...ESP_FLASHER_STUB,
  family: 'esp-flasher-stub-skeleton',
  greets: false,
  commands: [],
};
