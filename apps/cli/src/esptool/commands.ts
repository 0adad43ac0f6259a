/**
 * The esptool-compatible commands: their options, one help text each, and
 * what runs them. Option letters follow esptool v5 (`-fm/-ff/-fs`, `-z/-u`,
 * `-e`, `-s`, `-p` after write-flash means --no-progress, …).
 */
import type { OptionSpec } from './args.js';
import type { EsptoolContext } from './context.js';

// The commands' code (and libs/esp, zod, the serial layer under it) is
// imported when a command runs, not with this table: `flashfarm --help` and
// the router need only the names, options and help texts.
const board = () => import('./board-commands.js');
const flashing = () => import('./flash-commands.js');
const images = () => import('./image-commands.js');
const monitor = () => import('./monitor.js');

/** A command's run function, loaded from its module on first use. */
function lazy<M>(
  load: () => Promise<M>,
  pick: (m: M) => (ctx: EsptoolContext) => Promise<number>,
): (ctx: EsptoolContext) => Promise<number> {
  return async (ctx) => pick(await load())(ctx);
}

/** One command of the esptool surface. */
export interface EsptoolCommand {
  summary: string;
  usage: string;
  /** Lines after the usage: arguments and options. */
  help: string;
  options: OptionSpec[];
  run(ctx: EsptoolContext): Promise<number>;
}

/** Options every esptool command takes before its name. */
export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'chip', short: 'c', kind: 'value' },
  { name: 'port', short: 'p', kind: 'value' },
  { name: 'baud', short: 'b', kind: 'value' },
  { name: 'port-filter', kind: 'eat' },
  { name: 'before', kind: 'value' },
  { name: 'after', short: 'a', kind: 'value' },
  { name: 'no-stub', kind: 'flag' },
  { name: 'connect-attempts', kind: 'value' },
  { name: 'trace', short: 't', kind: 'flag' },
  { name: 'verbose', short: 'v', kind: 'flag' },
  { name: 'silent', short: 's', kind: 'flag' },
  { name: 'version', kind: 'flag' },
];

/** Help for the global options. */
export const GLOBAL_HELP = `Global options (before the command):
  -p, --port PORT         /dev/ttyUSB0, COM3, rfc2217://host:port, socket://host:port;
                          without it every USB serial port is tried (narrowed by --port-filter)
  -b, --baud N            data-phase baud (default 921600, stepping down on line errors;
                          115200 on socket://)
  -c, --chip CHIP         auto (default), esp8266, esp32, esp32s2, esp32s3, esp32c2, esp32c3,
                          esp32c6, esp32h2, esp32p4: refuse any other chip
  --before MODE           default-reset | usb-reset | no-reset | no-reset-no-sync
  -a, --after MODE        hard-reset (default) | soft-reset | no-reset | no-reset-stub | watchdog-reset
  --no-stub               talk to the ROM loader only
  --connect-attempts N    reset+sync rounds (0 or less: until Ctrl-C)
  --port-filter K=V ...   vid=0x303a pid=0x1001 name=ttyUSB serial=ABC (without -p)
  -v, --verbose / -t, --trace   show every step;  -s, --silent   errors only`;

const FLASH_SETTINGS: OptionSpec[] = [
  { name: 'flash-mode', short: 'fm', kind: 'value' },
  { name: 'flash-freq', short: 'ff', kind: 'value' },
  { name: 'flash-size', short: 'fs', kind: 'value' },
];
const FLASH_SETTINGS_HELP = `  -fm, --flash-mode M     keep (default) | qio | qout | dio | dout   } set in the bootloader header
  -ff, --flash-freq F     keep (default) | 80m | 60m | 48m | 40m …  } when it is written at the
  -fs, --flash-size S     keep (default) | detect | 1MB … 128MB     } chip's bootloader offset`;

/** Every command, by name (esptool's v4 underscore spellings are accepted too). */
export const ESPTOOL_COMMANDS: Record<string, EsptoolCommand> = {
  'write-flash': {
    summary: 'write files to flash and verify them (MD5)',
    usage: 'write-flash [options] ADDRESS FILE [ADDRESS FILE ...]',
    help: `Writes each FILE at its ADDRESS (Intel HEX files at their own addresses), compressed, then
checks every region by MD5. Files, addresses and flash settings are checked before the port opens.
  -e, --erase-all         erase the whole flash first
  -z, --compress          compress (default where the loader inflates)
  -u, --no-compress       send uncompressed
  -s, --skip-flashed      skip files the flash already holds (MD5 compare)
  --skip-unchanged        like --skip-flashed, and rewrite only the 4 KiB sectors that differ
  --force                 write images built for another chip or revision anyway
  -p, --no-progress       no progress bar
  --verify                accepted for esptool v3 scripts; every write is verified anyway
  --json                  print the result as JSON
${FLASH_SETTINGS_HELP}`,
    options: [
      { name: 'erase-all', short: 'e', kind: 'flag' },
      { name: 'compress', short: 'z', kind: 'flag' },
      { name: 'no-compress', short: 'u', kind: 'flag' },
      { name: 'skip-flashed', short: 's', kind: 'flag' },
      { name: 'skip-unchanged', kind: 'flag' },
      { name: 'force', kind: 'flag' },
      { name: 'no-progress', short: 'p', kind: 'flag' },
      { name: 'verify', kind: 'flag' },
      { name: 'json', kind: 'flag' },
      ...FLASH_SETTINGS,
    ],
    run: lazy(flashing, (m) => m.writeFlashCommand),
  },
  'verify-flash': {
    summary: 'check that flash holds the given files (MD5)',
    usage: 'verify-flash [options] ADDRESS FILE [ADDRESS FILE ...]',
    help: `Compares each FILE with the flash at ADDRESS by MD5 (with the same header settings write-flash
would apply). Exit code 6 when any differs.
  -d, --diff              read the flash back and list every differing byte
${FLASH_SETTINGS_HELP}`,
    options: [{ name: 'diff', short: 'd', kind: 'flag' }, ...FLASH_SETTINGS],
    run: lazy(flashing, (m) => m.verifyFlashCommand),
  },
  'read-flash': {
    summary: 'read flash into a file',
    usage: 'read-flash [options] ADDRESS SIZE OUTPUT',
    help: `Reads SIZE bytes (a number, 64k, 4M, or "all" for the whole flash) from ADDRESS into OUTPUT,
checked by MD5. Regions past the detected flash size are refused before reading.
  -p, --no-progress       no progress bar
  -fs, --flash-size S     accepted for esptool scripts (the detected size is used)`,
    options: [
      { name: 'no-progress', short: 'p', kind: 'flag' },
      { name: 'flash-size', short: 'fs', kind: 'value' },
    ],
    run: lazy(flashing, (m) => m.readFlashCommand),
  },
  'erase-flash': {
    summary: 'erase the whole flash',
    usage: 'erase-flash [--force]',
    help: `Erases the whole flash chip (needs the flasher stub, so not with --no-stub).
  --force                 accepted for esptool scripts`,
    options: [{ name: 'force', kind: 'flag' }],
    run: lazy(flashing, (m) => m.eraseFlashCommand),
  },
  'erase-region': {
    summary: 'erase a region of flash',
    usage: 'erase-region [--force] ADDRESS SIZE',
    help: `Erases SIZE bytes from ADDRESS; both must be multiples of 4096 (4 KiB sectors), and the region
must lie inside the detected flash. SIZE "all" erases the whole flash (ADDRESS 0).
  --force                 accepted for esptool scripts`,
    options: [{ name: 'force', kind: 'flag' }],
    run: lazy(flashing, (m) => m.eraseRegionCommand),
  },
  'read-mac': {
    summary: 'print the MAC address',
    usage: 'read-mac',
    help: 'Prints the base MAC address (and the EUI-64 on ESP32-C6/H2).',
    options: [],
    run: lazy(board, (m) => m.readMacCommand),
  },
  'chip-id': {
    summary: 'print the chip ID (ESP8266), or the MAC elsewhere',
    usage: 'chip-id',
    help: 'Prints the ESP8266 chip ID; other chips have none, so their MAC address is printed instead.',
    options: [],
    run: lazy(board, (m) => m.chipIdCommand),
  },
  'flash-id': {
    summary: 'print the flash manufacturer, device and size',
    usage: 'flash-id',
    help: 'Reads the flash chip JEDEC ID and prints manufacturer, device and the size it means.',
    options: [],
    run: lazy(board, (m) => m.flashIdCommand),
  },
  'get-security-info': {
    summary: 'print the security state (secure boot, flash encryption, key purposes)',
    usage: 'get-security-info',
    help: 'Prints the GET_SECURITY_INFO answer. ESP32-S2 and later only (the ESP8266 and ESP32 ROMs lack it).',
    options: [],
    run: lazy(board, (m) => m.securityInfoCommand),
  },
  'read-mem': {
    summary: 'read a 32-bit word of memory',
    usage: 'read-mem ADDRESS',
    help: 'Prints the 32-bit word at ADDRESS (a register or RAM address), read by the ROM loader.',
    options: [],
    run: lazy(board, (m) => m.readMemCommand),
  },
  'write-mem': {
    summary: 'write a 32-bit word of memory',
    usage: 'write-mem ADDRESS VALUE [MASK]',
    help: 'Writes VALUE to ADDRESS; with MASK only the bits set in MASK change.',
    options: [],
    run: lazy(board, (m) => m.writeMemCommand),
  },
  run: {
    summary: 'leave the loader and run the firmware in flash',
    usage: 'run',
    help: 'Makes the ROM loader start the firmware in flash, then ends with --after (hard-reset by default).',
    options: [],
    run: lazy(board, (m) => m.runCommand),
  },
  'merge-bin': {
    summary: 'merge files into one image to flash at one offset (raw or Intel HEX)',
    usage: 'merge-bin -o OUTPUT [options] ADDRESS FILE [ADDRESS FILE ...]   (needs --chip)',
    help: `Merges the files into OUTPUT: raw bytes with 0xFF in the gaps, or Intel HEX records.
  -o, --output FILE       the merged file (required)
  -f, --format F          raw (default) | hex
  -t, --target-offset A   where OUTPUT will be flashed (raw; default 0)
  --pad-to-size S         pad raw OUTPUT with 0xFF up to a flash size (4MB …); also --fill-flash-size
${FLASH_SETTINGS_HELP}`,
    options: [
      { name: 'output', short: 'o', kind: 'value' },
      { name: 'format', short: 'f', kind: 'value' },
      { name: 'target-offset', short: 't', kind: 'value' },
      { name: 'pad-to-size', kind: 'value' },
      { name: 'chunk-size', kind: 'value' },
      { name: 'md5-disable', kind: 'flag' },
      ...FLASH_SETTINGS,
    ],
    run: lazy(images, (m) => m.mergeBinCommand),
  },
  'image-info': {
    summary: 'print what an image holds (header, segments, checksum, SHA-256, app description)',
    usage: 'image-info FILE',
    help: `Prints the image header, extended header, segments with their memory types, checksum,
validation hash and the ESP-IDF app or bootloader description, as esptool v5 prints them.
The chip comes from the header unless --chip is given. Intel HEX files are read part by part.`,
    options: [],
    run: lazy(images, (m) => m.imageInfoCommand),
  },
  elf2image: {
    summary: 'make a flashable image from an ELF file',
    usage: 'elf2image [options] ELF   (needs --chip)',
    help: `Converts an ESP-IDF, Arduino or SDK ELF into the image the ROM loads, laid out as esptool lays
it out (ESP8266: a v1 image for 0x0 plus the IROM part as a second file).
  -o, --output FILE       output file (ESP8266: a name prefix; default: next to the ELF)
  -e, --version 1         image version (1; ESP8266 v2/v3 are not supported)
  --min-rev-full N        minimal chip revision (major*100+minor)
  --max-rev-full N        maximal chip revision (default 65535: none)
  --elf-sha256-offset A   put the ELF's SHA-256 at this offset (default: in the app descriptor)
  --dont-append-digest    no SHA-256 after the image
  --use-segments          use the ELF's LOAD segments instead of its sections
  --flash-mmu-page-size S 64KB | 32KB | 16KB | 8KB (ESP32-C2/C6/H2)
  --pad-to-size S         pad the image with 0xFF to a multiple of S (64KB, 1MB …)
  -fm, --flash-mode M     qio (default) | qout | dio | dout
  -ff, --flash-freq F     the chip's frequencies (default: its code 0, 40m on most)
  -fs, --flash-size S     1MB (default) … 128MB`,
    options: [
      { name: 'output', short: 'o', kind: 'value' },
      { name: 'version', short: 'e', kind: 'value' },
      { name: 'min-rev', short: 'r', kind: 'value' },
      { name: 'min-rev-full', kind: 'value' },
      { name: 'max-rev-full', kind: 'value' },
      { name: 'elf-sha256-offset', kind: 'value' },
      { name: 'dont-append-digest', kind: 'flag' },
      { name: 'use-segments', kind: 'flag' },
      { name: 'flash-mmu-page-size', kind: 'value' },
      { name: 'pad-to-size', kind: 'value' },
      { name: 'secure-pad', kind: 'flag' },
      { name: 'secure-pad-v2', kind: 'flag' },
      { name: 'ram-only-header', kind: 'flag' },
      ...FLASH_SETTINGS,
    ],
    run: lazy(images, (m) => m.elf2imageCommand),
  },
  monitor: {
    summary: 'show the serial console after a reset (Ctrl-] quits)',
    usage: 'monitor',
    help: `Resets the board into its firmware (not with --before no-reset) and shows what it prints;
keys typed are sent to it; Ctrl-] quits. -b sets the console baud (default 115200; the ESP8266
ROM prints at 74880). Output is shown as it comes: nothing is decoded (no backtrace lookup).`,
    options: [],
    run: lazy(monitor, (m) => m.monitorCommand),
  },
  version: {
    summary: 'print the version',
    usage: 'version',
    help: 'Prints the flashfarm version and the esptool version whose command line it follows.',
    options: [],
    run: () => Promise.resolve(0),
  },
};

/** Names the router sends to the esptool surface (both spellings of each command). */
export function isEsptoolCommand(name: string): boolean {
  return name in ESPTOOL_COMMANDS || name.replace(/_/g, '-') in ESPTOOL_COMMANDS;
}

/** The overview of the esptool-style commands (for `flashfarm --help`). */
export function esptoolOverview(): string {
  const width = Math.max(...Object.keys(ESPTOOL_COMMANDS).map((n) => n.length));
  return [
    'esptool-compatible commands (flashfarm [global options] COMMAND [options] ...):',
    ...Object.entries(ESPTOOL_COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
  ].join('\n');
}
