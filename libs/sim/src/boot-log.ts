import { type ChipDefinition, type ChipIdentity, type ResetCause } from './chips/types.js';
import { type SimFlash } from './flash-memory.js';
import {
  type AppDescriptor,
  type ImageInfo,
  type Partition,
  isImageError,
  parseAppDescriptor,
  parseImage,
  parsePartitionTable,
} from './firmware-image.js';

/** Where ESP-IDF puts the partition table. */
export const PARTITION_TABLE_OFFSET = 0x8000;

/** Text the chip prints at a simulated time after EN rose. */
export interface BootLine {
  atMs: number;
  text: string;
}

/** What happens after the last line. */
export type BootEnd =
  | { kind: 'run' }
  /** The chip resets itself (watchdog, panic, bootloader error) after `atMs`. */
  | { kind: 'reset'; atMs: number; cause: ResetCause };

/** The whole boot from flash: lines, then running or resetting. */
export interface BootScript {
  lines: BootLine[];
  end: BootEnd;
  /** Parsed app descriptor, when an app was found. */
  app: AppDescriptor | null;
}

/** Inputs of a boot from flash. */
export interface BootContext {
  def: ChipDefinition;
  identity: ChipIdentity;
  flash: SimFlash;
  cause: ResetCause;
  /** Fault: the app panics right after start-up and the chip reboots. */
  appPanics: boolean;
}

const FLASH_MODES = ['QIO', 'QOUT', 'DIO', 'DOUT'];
const NL = '\r\n';

function reader(flash: SimFlash, base: number): (offset: number, length: number) => Uint8Array | null {
  return (offset, length) => {
    const start = base + offset;
    if (start < 0 || start + length > flash.sizeBytes) return null;
    return flash.read(start, length);
  };
}

function hex8(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** A log line in ESP-IDF's format, "I (123) tag: message". */
function idf(level: 'I' | 'E' | 'W', atMs: number, tag: string, message: string): string {
  return `${level} (${Math.round(atMs)}) ${tag}: ${message}`;
}

/** Describes the boot from flash of a chip, as its ROM, the 2nd-stage bootloader and the app would print it. */
export function bootFromFlash(ctx: BootContext): BootScript {
  return ctx.def.name === 'esp8266' ? bootEsp8266(ctx) : bootEsp32Family(ctx);
}

function romBanner(ctx: BootContext): string {
  const { def, cause } = ctx;
  return [...def.romBannerHead, def.resetLine(cause, def.strapFlashBoot, false)].join(NL) + NL;
}

function bootEsp8266(ctx: BootContext): BootScript {
  const lines: BootLine[] = [{ atMs: 0, text: romBanner(ctx) + NL }];
  const image = parseImage(reader(ctx.flash, 0), false);
  if (isImageError(image)) {
    // The ESP8266 ROM has no "invalid header" message; it stays silent and the RTC watchdog resets it.
    return { lines, end: { kind: 'reset', atMs: 2000, cause: 'rtc-wdt' }, app: null };
  }
  const loads = image.segments.map(
    (s, i) =>
      `load ${hex8(s.loadAddress)}, len ${s.length}, room 16 ${i === image.segments.length - 1 ? NL + 'tail 0' : ''}`,
  );
  // Other tests match this line as it is; keep it stable.
  lines.push({ atMs: 5, text: loads.join(NL) + NL + `chksum 0x${image.checksumOk ? 'ok' : 'bad'}` + NL });
  if (!image.checksumOk) return { lines, end: { kind: 'reset', atMs: 500, cause: 'rtc-wdt' }, app: null };
  return appStart(ctx, lines, 40, null);
}

function bootEsp32Family(ctx: BootContext): BootScript {
  const { def, flash, identity } = ctx;
  const lines: BootLine[] = [{ atMs: 0, text: romBanner(ctx) }];
  const boot = parseImage(reader(flash, def.bootloaderOffset), true);
  if (isImageError(boot)) {
    // The ROM prints the first word it found and retries until the RTC watchdog resets it.
    const text = new Array<string>(8).fill(`invalid header: ${hex8(boot.firstWord)}`).join(NL) + NL;
    lines.push({ atMs: 2, text });
    return { lines, end: { kind: 'reset', atMs: 1000, cause: 'rtc-wdt' }, app: null };
  }
  lines.push({ atMs: 3, text: romLoadLines(def, boot) });
  let t = 30;
  const log: string[] = [];
  const tag = `boot.${def.name}`;
  const rev = `v${Math.floor(identity.revision / 100)}.${identity.revision % 100}`;
  log.push(idf('I', t, 'boot', 'ESP-IDF v5.1.2 2nd stage bootloader'));
  log.push(idf('I', t, 'boot', 'compile time Jan  1 2024 00:00:00'));
  log.push(idf('I', t + 1, 'boot', `chip revision: ${rev}`));
  log.push(idf('I', t + 4, tag, `SPI Mode       : ${FLASH_MODES[boot.flashMode] ?? 'DIO'}`));
  log.push(idf('I', t + 8, tag, `SPI Flash Size : ${flash.sizeBytes / (1024 * 1024)}MB`));
  log.push(idf('I', t + 12, 'boot', 'Enabling RNG early entropy source...'));
  t += 20;
  const table = parsePartitionTable(flash.read(PARTITION_TABLE_OFFSET, 0xc00));
  if ('badMagic' in table) {
    log.push(idf('E', t, 'flash_parts', `partition 0 invalid magic number 0x${table.badMagic.toString(16)}`));
    log.push(idf('E', t + 6, 'boot', 'Failed to verify partition table'));
    log.push(idf('E', t + 11, 'boot', 'load partition table error!'));
    lines.push({ atMs: t, text: log.join(NL) + NL });
    return { lines, end: { kind: 'reset', atMs: t + 20, cause: 'sw-cpu' }, app: null };
  }
  log.push(idf('I', t, 'boot', 'Partition Table:'));
  log.push(idf('I', t + 3, 'boot', '## Label            Usage          Type ST Offset   Length'));
  table.partitions.forEach((p, i) => log.push(idf('I', t + 6 + i, 'boot', partitionLine(i, p))));
  log.push(idf('I', t + 10, 'boot', 'End of partition table'));
  t += 15;
  const candidates = table.partitions.filter(
    (p) => p.type === 0 && (p.subtype === 0x00 || p.subtype === 0x10),
  );
  for (const part of candidates) {
    const app = parseImage(reader(flash, part.offset), true);
    if (isImageError(app)) {
      log.push(
        idf(
          'E',
          t,
          'esp_image',
          `image at 0x${part.offset.toString(16)} has invalid magic byte (nothing flashed)`,
        ),
      );
      continue;
    }
    if (app.chipId !== def.imageChipId) {
      log.push(
        idf(
          'E',
          t,
          'esp_image',
          `Mismatch chip id, expected ${def.imageChipId ?? 0}, found ${app.chipId ?? 0}`,
        ),
      );
      continue;
    }
    if (!app.checksumOk) {
      log.push(idf('E', t, 'esp_image', 'Checksum failed.'));
      continue;
    }
    app.segments.forEach((s, i) => {
      const paddr = part.offset + s.dataOffset;
      log.push(
        idf(
          'I',
          t + i * 8,
          'esp_image',
          `segment ${i}: paddr=${paddr.toString(16).padStart(8, '0')} vaddr=${s.loadAddress.toString(16).padStart(8, '0')} size=${s.length.toString(16).padStart(5, '0')}h (${String(s.length).padStart(6)}) load`,
        ),
      );
    });
    t += app.segments.length * 8 + 10;
    log.push(idf('I', t, 'boot', `Loaded app from partition at offset 0x${part.offset.toString(16)}`));
    log.push(idf('I', t + 1, 'boot', 'Disabling RNG early entropy source...'));
    lines.push({ atMs: 30, text: log.join(NL) + NL });
    const first = app.segments[0];
    const desc = first
      ? parseAppDescriptor(flash.read(part.offset + first.dataOffset, Math.min(first.length, 256)))
      : null;
    return appStart(ctx, lines, t + 20, desc);
  }
  log.push(idf('E', t + 2, 'boot', 'No bootable app partitions in the partition table'));
  lines.push({ atMs: 30, text: log.join(NL) + NL });
  return { lines, end: { kind: 'reset', atMs: t + 10, cause: 'sw-cpu' }, app: null };
}

function romLoadLines(def: ChipDefinition, boot: ImageInfo): string {
  const mode = FLASH_MODES[boot.flashMode] ?? 'DIO';
  const out: string[] = [];
  if (def.name === 'esp32') {
    out.push(
      'configsip: 0, SPIWP:0xee',
      'clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00',
      `mode:${mode}, clock div:2`,
    );
    for (const s of boot.segments) out.push(`load:${hex8(s.loadAddress)},len:${s.length}`);
  } else {
    out.push('SPIWP:0xee', `mode:${mode}, clock div:1`);
    for (const s of boot.segments) out.push(`load:${hex8(s.loadAddress)},len:0x${s.length.toString(16)}`);
  }
  out.push(`entry ${hex8(boot.entry)}`);
  return out.join(NL) + NL;
}

function partitionLine(index: number, p: Partition): string {
  const usage =
    p.type === 0
      ? p.subtype === 0
        ? 'factory app'
        : `OTA app`
      : p.subtype === 2
        ? 'WiFi data'
        : p.subtype === 1
          ? 'RF data'
          : 'Unknown data';
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  return ` ${index} ${p.label.padEnd(16)} ${usage.padEnd(16)} ${hex(p.type, 2)} ${hex(p.subtype, 2)} ${hex(p.offset, 8)} ${hex(p.size, 8)}`;
}

function appStart(ctx: BootContext, lines: BootLine[], t: number, desc: AppDescriptor | null): BootScript {
  const log: string[] = [idf('I', t, 'cpu_start', 'Pro cpu start user code')];
  if (desc) {
    log.push(idf('I', t + 1, 'app_init', 'Application information:'));
    log.push(idf('I', t + 2, 'app_init', `Project name:     ${desc.projectName}`));
    log.push(idf('I', t + 3, 'app_init', `App version:      ${desc.version}`));
    log.push(idf('I', t + 4, 'app_init', `Compile time:     ${desc.date} ${desc.time}`));
    log.push(idf('I', t + 5, 'app_init', `ESP-IDF:          ${desc.idfVersion}`));
  }
  log.push(idf('I', t + 10, 'main_task', 'Calling app_main()'));
  lines.push({ atMs: t, text: log.join(NL) + NL });
  if (ctx.appPanics) {
    const panic = `Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.${NL}${NL}Rebooting...${NL}`;
    lines.push({ atMs: t + 50, text: panic });
    return { lines, end: { kind: 'reset', atMs: t + 60, cause: 'sw-cpu' }, app: desc };
  }
  return { lines, end: { kind: 'run' }, app: desc };
}
