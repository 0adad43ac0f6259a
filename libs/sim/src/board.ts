import { createHash } from 'node:crypto';
import { bootFromFlash } from './boot-log.js';
import { type Cancel, Prng, SimClock } from './clock.js';
import { type ChipMode, SimChip } from './chip.js';
import { getChip, isChipName } from './chips/index.js';
import {
  type ChipDefinition,
  type ChipIdentity,
  type ChipName,
  type ResetCause,
  formatMac,
} from './chips/types.js';
import {
  BOARD_PROFILES,
  type BoardProfileName,
  type UsbIdentity,
  type Wiring,
  isBoardProfileName,
  profileForWiring,
} from './board-profiles.js';
import { SimError, SimErrorCode, SimPortBusyError, SimUnpluggedError } from './errors.js';
import { SimFlash } from './flash-memory.js';
import { type ModemInputs, type SimPortHandle } from './port.js';
import { type SpiFlashPart, jedecCapacityCode } from './registers.js';
import { romHandler } from './rom-loader.js';
import { KNOWN_STUBS, type KnownStub } from './stub-catalogue.js';
import { baudMismatch, dropBytes, flipBits, garble, UartDirection } from './uart.js';

export type { Wiring } from './board-profiles.js';

/** Faults that can be switched on and off while a board runs. */
export interface SimFaults {
  /** Flip bits (probability per bit) in both directions while the line runs faster than aboveBaud. */
  bitErrors?: { aboveBaud: number; bitErrorRate: number } | null;
  /** Drop each byte with this probability, both directions. */
  dropRate?: number;
  /** The strap pin is not wired to the auto-reset circuit: DTR cannot pull it low. */
  io0NotWired?: boolean;
  /** Added delay per direction in real milliseconds (a remote link); DTR/RTS changes are delayed as much. */
  latencyMs?: number;
  /** Programming any range containing this flash address fails. */
  flashWriteFailAt?: number | null;
  /** The app panics right after start-up, so the board reboots forever. */
  bootLoop?: boolean;
  /** The ROM ignores this many SYNCs after each reset (autobaud warm-up, §8 row 3). */
  missedSyncs?: number;
  /** Nothing from the host reaches the chip (broken TX wire: banner seen, no sync, §8 row 2). */
  rxDead?: boolean;
  /** The SPI flash does not answer: RDID reads 0xFFFFFF and SFDP fails (§8 row 15). */
  flashDead?: boolean;
}

/** Options of a simulated board. */
export interface SimBoardOptions {
  chip: ChipName;
  /** Names the port (sim://name) and seeds the default MAC. Defaults to the chip name. */
  name?: string;
  /** Base MAC ("aa:bb:cc:dd:ee:ff"); default derived from the name with an Espressif OUI. */
  mac?: string | Uint8Array;
  /** 1, 2, 4, 8 or 16 MiB; default per chip. */
  flashSizeBytes?: number;
  /** JEDEC ID in wire order (0xC84016 = GigaDevice, 4 MiB); default GigaDevice with the right capacity. */
  jedecId?: number;
  /** Chip revision as major × 100 + minor. */
  revision?: number;
  /**
   * The kind of board (wiring, EN RC delay, USB identity); default `devkit`, or the profile
   * the wiring implies. `usb-serial-jtag` exists for ESP32-S3/C3/C6.
   */
  profile?: BoardProfileName;
  /** Overrides the profile's wiring. */
  wiring?: Wiring;
  /** 1 = real time, 0.01 = 100× faster, 0 = instantaneous. Default 1. */
  timeScale?: number;
  /** Persist the flash contents in this file (loaded at construction, saved by saveFlash()/dispose()). */
  flashFile?: string;
  faults?: SimFaults;
  /** Seed of the fault and garbage generator. Default derived from the name. */
  seed?: number;
  /** Real milliseconds from EN's release until the chip latches its straps (the RC on EN); default the profile's. */
  enRiseMs?: number;
  /** Regions programmed before the first power-on (over what a flashFile holds). */
  initialFlash?: ReadonlyArray<{ offset: number; data: Uint8Array }>;
  /**
   * RAM code outside the stub catalogue, started with MEM_END, normally runs as the chip's
   * newest known stub (with a warning); when true it halts the chip as any unknown code would.
   */
  strictStubs?: boolean;
  /** The stubs this board recognises by content; default KNOWN_STUBS (tests and private stub builds add their own). */
  stubCatalogue?: readonly KnownStub[];
}

/** A passive description of a board, for listings. */
export interface SimBoardInfo {
  name: string;
  chip: ChipName;
  chipDisplayName: string;
  mac: string;
  flashSizeBytes: number;
  jedecId: number;
  revision: number;
  profile: BoardProfileName;
  wiring: Wiring;
  /** What a host sees on USB for the board's serial port. */
  usb: UsbIdentity;
}

/** What the host did to the flash, counted from the board's side (the fault suite reads them). */
export interface SimFlashCounters {
  /** Download sessions (resets into the ROM loader) in which the host began writing the flash. */
  writeSessions: number;
  /** App starts that ended a download session whose last write the host verified (MD5): completed flashes. */
  verifiedBoots: number;
}

/** Host baud a freshly opened port starts at. */
const DEFAULT_HOST_BAUD = 115200;
/** Throughput of the USB-Serial/JTAG link, as a baud equivalent (≈1 MB/s, full-speed USB). */
const USB_EQUIVALENT_BAUD = 10_000_000;
/** Boot loops never restart faster than this (real ms), even at timeScale 0. */
const MIN_REBOOT_REAL_MS = 100;
/** Keep at most this much printed text. */
const CONSOLE_LIMIT_CHARS = 1 << 20;
const ALLOWED_FLASH_SIZES = [1, 2, 4, 8, 16].map((m) => m * 1024 * 1024);

function parseMac(mac: string | Uint8Array): Uint8Array {
  if (mac instanceof Uint8Array) {
    if (mac.length !== 6) throw new SimError(SimErrorCode.INVALID_ARGUMENT, 'a MAC has 6 bytes');
    return mac.slice();
  }
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new SimError(SimErrorCode.INVALID_ARGUMENT, `invalid MAC "${mac}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** The default MAC of a board: the chip's Espressif OUI and three bytes from a hash of its name. */
export function defaultMac(chip: ChipName, name: string): Uint8Array {
  const def = getChip(chip);
  const digest = createHash('sha256').update(`${chip}:${name}`).digest();
  return Uint8Array.of(...def.defaultOui, digest[0], digest[1], digest[2]);
}

/**
 * One simulated ESP board: chip (ROM, stub, registers), SPI flash, the
 * DTR/RTS reset circuit, the UART with its timing, and switchable faults.
 * The host talks to it through openPort().
 */
export class SimBoard {
  readonly name: string;
  readonly def: ChipDefinition;
  readonly flash: SimFlash;
  readonly identity: ChipIdentity;
  readonly jedecId: number;
  readonly wiring: Wiring;
  readonly profile: BoardProfileName;
  readonly usb: UsbIdentity;
  readonly clock: SimClock;

  private readonly chip: SimChip;
  private readonly part: SpiFlashPart;
  private readonly rng: Prng;
  private readonly enRiseMs: number;
  private faults: Required<SimFaults>;
  private readonly toChip: UartDirection;
  private readonly toHost: UartDirection;
  private port: SimPort | null = null;
  private plugged = true;
  private hostBaud = DEFAULT_HOST_BAUD;
  /** Bumps whenever the port closes or the board is unplugged. */
  private portSession = 0;
  private dtr = false;
  private rts = false;
  private bootButton = false;
  private enButton = false;
  private enLow = false;
  private latchTimer: Cancel | null = null;
  /** Strap value latched at the last hardware reset: software resets keep it. */
  private latchedDownload = false;
  /** USB-Serial/JTAG: DTR-without-RTS requested download boot for the next reset. */
  private usbForceDownload = false;
  private consoleText = '';
  private readonly printListeners = new Set<(text: string) => void>();
  private readonly modeListeners = new Set<(mode: ChipMode) => void>();
  private readonly warningListeners = new Set<(message: string) => void>();
  private readonly warningLog: string[] = [];
  private readonly errors: unknown[] = [];
  private readonly counters: SimFlashCounters = { writeSessions: 0, verifiedBoots: 0 };
  /** The chip's served-request counts when the current download session began; null outside one. */
  private downloadSession: { flashBegins: number; md5s: number } | null = null;
  private inputs: ModemInputs = { cts: false, dsr: false, ri: false, cd: false };

  constructor(options: SimBoardOptions) {
    if (!isChipName(options.chip))
      throw new SimError(SimErrorCode.INVALID_ARGUMENT, `unknown chip "${String(options.chip)}"`);
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale >= 0) || !Number.isFinite(timeScale))
      throw new SimError(SimErrorCode.INVALID_ARGUMENT, `timeScale must be ≥ 0, got ${timeScale}`);
    const revision = options.revision ?? getChip(options.chip).defaultRevision;
    if (!Number.isInteger(revision) || revision < 0 || revision > 399 || revision % 100 > 15) {
      throw new SimError(
        SimErrorCode.INVALID_ARGUMENT,
        `revision must be major × 100 + minor (minor ≤ 15), got ${revision}`,
      );
    }
    this.def = getChip(options.chip);
    this.name = options.name ?? options.chip;
    const flashSizeBytes = options.flashSizeBytes ?? this.def.defaultFlashBytes;
    if (!ALLOWED_FLASH_SIZES.includes(flashSizeBytes)) {
      throw new SimError(
        SimErrorCode.INVALID_ARGUMENT,
        `flash size must be 1, 2, 4, 8 or 16 MiB, got ${flashSizeBytes}`,
      );
    }
    this.flash = new SimFlash({ sizeBytes: flashSizeBytes, file: options.flashFile });
    for (const region of options.initialFlash ?? []) {
      this.flash.erase(region.offset, region.data.length);
      this.flash.program(region.offset, region.data);
    }
    this.jedecId = options.jedecId ?? 0xc84000 | jedecCapacityCode(flashSizeBytes);
    this.identity = {
      mac: options.mac ? parseMac(options.mac) : defaultMac(this.def.name, this.name),
      revision,
      xtalMhz: this.def.defaultXtalMhz,
    };
    if (options.profile !== undefined && !isBoardProfileName(options.profile))
      throw new SimError(SimErrorCode.INVALID_ARGUMENT, `unknown board profile "${String(options.profile)}"`);
    const profile = options.profile
      ? BOARD_PROFILES[options.profile]
      : profileForWiring(options.wiring ?? 'auto-reset');
    this.profile = profile.name;
    this.usb = profile.usb;
    this.wiring = options.wiring ?? profile.wiring;
    if (!profile.chips.includes(this.def.name)) {
      throw new SimError(
        SimErrorCode.INVALID_ARGUMENT,
        `board profile "${profile.name}" exists for ${profile.chips.join(', ')}, not ${this.def.name}`,
      );
    }
    if (this.wiring === 'usb-serial-jtag' && this.def.uartDevBufNoUsbJtag === null) {
      throw new SimError(
        SimErrorCode.INVALID_ARGUMENT,
        `${this.def.displayName} has no USB-Serial/JTAG peripheral`,
      );
    }
    this.clock = new SimClock(timeScale);
    const seed = options.seed ?? createHash('sha256').update(this.name).digest().readUInt32LE(0);
    this.rng = new Prng(seed);
    this.enRiseMs = options.enRiseMs ?? profile.enRiseMs;
    this.faults = {
      bitErrors: null,
      dropRate: 0,
      io0NotWired: false,
      latencyMs: 0,
      flashWriteFailAt: null,
      bootLoop: false,
      missedSyncs: 0,
      rxDead: false,
      flashDead: false,
      ...options.faults,
    };
    this.part = { flash: this.flash, jedecId: this.jedecId, dead: this.faults.flashDead };
    this.toChip = new UartDirection(this.clock, (bytes) => this.chip.receive(bytes));
    this.toHost = new UartDirection(this.clock, (bytes) => this.port?.deliver(bytes));
    this.chip = new SimChip(this.def, this.flash, this.identity, this.part, {
      clock: this.clock,
      transmit: (bytes) => this.chipTransmit(bytes),
      printed: (text) => this.appendConsole(text),
      flashWriteFails: (offset, length) => {
        const at = this.faults.flashWriteFailAt;
        return at !== null && at >= offset && at < offset + length;
      },
      softReset: (kind) => this.softReset(kind),
      watchdogReset: () => {
        if (this.plugged && !this.enLow) this.hardStart('rtc-wdt');
      },
      internalError: (err) => this.errors.push(err),
      warn: (message) => this.warn(message),
      strictStubs: options.strictStubs ?? false,
      stubCatalogue: options.stubCatalogue ?? KNOWN_STUBS,
      modeChanged: (mode) => {
        for (const listener of [...this.modeListeners]) listener(mode);
      },
    });
    if (this.def.uartDevBufNoAddr !== null) {
      const usbValue = this.def.uartDevBufNoUsbJtag ?? 0;
      this.chip.regs.setDynamic(this.def.uartDevBufNoAddr, () =>
        this.wiring === 'usb-serial-jtag' ? usbValue : 0,
      );
    }
    this.powerOn();
  }

  /** A passive description of the board. */
  get info(): SimBoardInfo {
    return {
      name: this.name,
      chip: this.def.name,
      chipDisplayName: this.def.displayName,
      mac: formatMac(this.identity.mac),
      flashSizeBytes: this.flash.sizeBytes,
      jedecId: this.jedecId,
      revision: this.identity.revision,
      profile: this.profile,
      wiring: this.wiring,
      usb: this.usb,
    };
  }

  /** Base MAC as aa:bb:cc:dd:ee:ff. */
  get mac(): string {
    return formatMac(this.identity.mac);
  }

  /** What the chip is doing right now. */
  get mode(): ChipMode {
    return this.chip.mode;
  }

  /** The chip's UART baud. */
  get chipBaud(): number {
    return this.chip.baud;
  }

  /** True while the board is plugged in. */
  get isPlugged(): boolean {
    return this.plugged;
  }

  /** True while a port handle is open. */
  get isPortOpen(): boolean {
    return this.port !== null;
  }

  /** Everything the chip printed (banners, boot logs) since construction or clearConsole(); protocol frames excluded. */
  get console(): string {
    return this.consoleText;
  }

  /** Forgets the printed text so far. */
  clearConsole(): void {
    this.consoleText = '';
  }

  /** Calls listener with each piece of text the chip prints. */
  onPrint(listener: (text: string) => void): () => void {
    this.printListeners.add(listener);
    return () => this.printListeners.delete(listener);
  }

  /** Calls listener whenever the chip's mode changes (reset, ROM loader, stub, flash boot, halted, off). */
  onModeChange(listener: (mode: ChipMode) => void): () => void {
    this.modeListeners.add(listener);
    return () => this.modeListeners.delete(listener);
  }

  /** Resolves once the console matches pattern; rejects after timeoutMs (real). */
  waitForConsole(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.consoleText.match(pattern);
        if (!m) return false;
        clearTimeout(timer);
        off();
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        off();
        reject(new Error(`console of ${this.name} did not match ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onPrint(() => void check());
      check();
    });
  }

  /** Completed flashes and write sessions since the board was created (the open session included). */
  get flashCounters(): SimFlashCounters {
    const open = this.downloadSession;
    const writing = open !== null && this.chip.served.flashBegins > open.flashBegins;
    return { ...this.counters, writeSessions: this.counters.writeSessions + (writing ? 1 : 0) };
  }

  /** Warnings so far (e.g. RAM code run as an assumed stub), oldest first. */
  get warnings(): readonly string[] {
    return this.warningLog;
  }

  /** Calls listener with each warning as it happens (a CLI prints them). */
  onWarning(listener: (message: string) => void): () => void {
    this.warningListeners.add(listener);
    return () => this.warningListeners.delete(listener);
  }

  /**
   * True when no byte is in flight on either line and the loader has no command queued or running:
   * everything the host sent has been handled and every answer has reached the port.
   */
  get quiet(): boolean {
    return !this.toChip.inFlight && !this.toHost.inFlight && this.chip.idle;
  }

  /** Internal errors caught while handling commands (a test asserts it stays empty). */
  get internalErrors(): readonly unknown[] {
    return this.errors;
  }

  /** Reads a word of the chip's register space, as READ_REG would (for tests and tools). */
  readRegister(addr: number): number {
    return this.chip.regs.read(addr);
  }

  /** The current fault switches. */
  get currentFaults(): Readonly<Required<SimFaults>> {
    return this.faults;
  }

  /** Changes fault switches; unspecified ones keep their value. */
  setFaults(faults: SimFaults): void {
    this.faults = { ...this.faults, ...faults };
    this.part.dead = this.faults.flashDead;
    this.updatePins();
  }

  /** Opens the board's serial port. Throws SimPortBusyError when already open, SimUnpluggedError when unplugged. */
  openPort(): SimPortHandle {
    if (!this.plugged) throw new SimUnpluggedError(this.name);
    if (this.port) throw new SimPortBusyError(this.name);
    this.port = new SimPort(this);
    this.hostBaud = this.port.baudRate;
    return this.port;
  }

  /** The modem-status inputs the host reads (CTS, DSR, RI, CD). */
  get modemInputs(): ModemInputs {
    return { ...this.inputs };
  }

  /**
   * Drives modem-status inputs the host reads, as a fixture does with a lid switch wired to CTS, DSR
   * or CD. The chip is unaffected; an open port hears of the change.
   */
  setModemInputs(changes: Partial<ModemInputs>): void {
    const next = { ...this.inputs };
    for (const line of ['cts', 'dsr', 'ri', 'cd'] as const)
      if (typeof changes[line] === 'boolean') next[line] = changes[line];
    const changed = (['cts', 'dsr', 'ri', 'cd'] as const).some((l) => next[l] !== this.inputs[l]);
    this.inputs = next;
    if (changed) this.port?.modemInputsChanged({ ...next });
  }

  /** Presses (down = true) or releases a button. BOOT pulls the strap pin low; EN holds the chip in reset. */
  pressButton(button: 'boot' | 'en', down: boolean): void {
    if (button === 'boot') this.bootButton = down;
    else this.enButton = down;
    this.updatePins();
  }

  /** Pulls the USB cable: the chip loses power and an open port gets onDisconnect. */
  unplug(): void {
    if (!this.plugged) return;
    this.plugged = false;
    this.endDownloadSession(false);
    this.latchTimer?.();
    this.latchTimer = null;
    this.chip.halt('off');
    this.toChip.clear();
    this.toHost.clear();
    const port = this.port;
    this.port = null;
    this.portSession++;
    port?.disconnect(new SimUnpluggedError(this.name));
    this.dtr = false;
    this.rts = false;
    this.flash.save();
  }

  /** Plugs the cable back in: power-on reset. */
  plug(): void {
    if (this.plugged) return;
    this.plugged = true;
    this.powerOn();
  }

  /**
   * Cuts the chip's power and restores it while the USB bridge stays powered
   * (a switched external supply): a power-on reset that samples the straps
   * from the lines as the host holds them; an open port stays open.
   */
  powerCycle(): void {
    if (!this.plugged) throw new SimUnpluggedError(this.name);
    this.endDownloadSession(false);
    this.latchTimer?.();
    this.latchTimer = null;
    this.chip.halt('off');
    this.toChip.clear();
    this.toHost.clear();
    this.powerOn({ keepLines: true });
  }

  /** Saves the flash to its file, if the board has one. */
  saveFlash(): void {
    this.flash.save();
  }

  /** Stops all activity and timers, closes the port, saves the flash. */
  dispose(): void {
    this.port?.close();
    this.latchTimer?.();
    this.chip.halt('off');
    this.toChip.clear();
    this.toHost.clear();
    this.clock.cancelAll();
    this.flash.save();
  }

  // ---- used by SimPort ----

  /** @internal */
  hostWrite(bytes: Uint8Array): void {
    if (!this.plugged || this.faults.rxDead) return;
    let data = this.lineFaults(bytes, this.hostBaud);
    if (this.wiring === 'usb-serial-jtag') {
      this.toChip.send(data, USB_EQUIVALENT_BAUD, this.faults.latencyMs);
      return;
    }
    // The ROM's autobaud locks onto whatever rate the host uses until CHANGE_BAUDRATE.
    if (this.chip.mode === 'rom' && this.chip.autobaud) this.chip.baud = this.hostBaud;
    if (baudMismatch(this.hostBaud, this.chip.baud))
      data = garble(data, this.hostBaud, this.chip.baud, this.rng);
    this.toChip.send(data, this.hostBaud, this.faults.latencyMs);
  }

  /** @internal */
  hostSignals(signals: { dtr?: boolean; rts?: boolean }): void {
    const session = this.portSession;
    const apply = (): void => {
      // A change still travelling when the port closed never arrives.
      if (!this.plugged || session !== this.portSession) return;
      if (signals.dtr !== undefined) this.dtr = signals.dtr;
      if (signals.rts !== undefined) this.rts = signals.rts;
      this.updatePins();
    };
    // On a remote link the modem-line changes travel as far as the data does.
    if (this.faults.latencyMs > 0) this.clock.afterReal(this.faults.latencyMs, apply);
    else apply();
  }

  /** @internal */
  hostBaudChanged(baud: number): void {
    this.hostBaud = baud;
  }

  /** @internal */
  portClosed(port: SimPort): void {
    if (this.port !== port) return;
    this.port = null;
    this.portSession++;
    // Closing a tty drops both modem lines (HUPCL); with both released the chip keeps running.
    this.dtr = false;
    this.rts = false;
    this.updatePins();
  }

  // ---- internals ----

  private lineFaults(bytes: Uint8Array, baud: number): Uint8Array {
    let data = dropBytes(bytes, this.faults.dropRate, this.rng);
    const bitErrors = this.faults.bitErrors;
    if (bitErrors && baud > bitErrors.aboveBaud) data = flipBits(data, bitErrors.bitErrorRate, this.rng);
    return data;
  }

  private chipTransmit(bytes: Uint8Array): void {
    // A closed port has no reader: what the chip sends meanwhile is lost.
    if (!this.plugged || !this.port) return;
    if (this.wiring === 'usb-serial-jtag') {
      this.toHost.send(bytes, USB_EQUIVALENT_BAUD, this.faults.latencyMs);
      return;
    }
    let data = this.lineFaults(bytes, this.chip.baud);
    if (baudMismatch(this.chip.baud, this.hostBaud))
      data = garble(data, this.chip.baud, this.hostBaud, this.rng);
    this.toHost.send(data, this.chip.baud, this.faults.latencyMs);
  }

  private warn(message: string): void {
    const line = `${this.name}: ${message}`;
    this.warningLog.push(line);
    if (this.warningLog.length > 100) this.warningLog.shift();
    for (const listener of [...this.warningListeners]) listener(line);
  }

  private appendConsole(text: string): void {
    this.consoleText += text;
    if (this.consoleText.length > CONSOLE_LIMIT_CHARS)
      this.consoleText = this.consoleText.slice(-CONSOLE_LIMIT_CHARS / 2);
    for (const listener of this.printListeners) listener(text);
  }

  /** Resolves EN and the strap pin from lines, wiring, buttons and faults. */
  private pins(): { enLow: boolean; io0Low: boolean } {
    const { dtr, rts } = this;
    let enLow = this.enButton;
    let io0Low = this.bootButton;
    const wired = !this.faults.io0NotWired;
    switch (this.wiring) {
      case 'auto-reset':
        // EN low iff RTS asserted and DTR not; IO0 low iff DTR asserted and RTS not (§3.5).
        enLow ||= rts && !dtr;
        io0Low ||= wired && dtr && !rts;
        break;
      case 'auto-reset-swapped':
        enLow ||= dtr && !rts;
        io0Low ||= wired && rts && !dtr;
        break;
      case 'usb-serial-jtag':
        // The peripheral resets the chip while RTS alone is asserted; DTR alone requests
        // download boot for the next reset it causes (hardStart consumes the request).
        enLow ||= rts && !dtr;
        if (dtr && !rts && wired) this.usbForceDownload = true;
        break;
      case 'none':
        break;
    }
    return { enLow, io0Low };
  }

  private updatePins(): void {
    if (!this.plugged) return;
    const { enLow } = this.pins();
    if (enLow && !this.enLow) {
      this.enLow = true;
      this.latchTimer?.();
      this.latchTimer = null;
      this.chip.halt('reset');
    } else if (!enLow && this.enLow) {
      this.enLow = false;
      // The capacitor on EN delays the release; the chip latches its straps when EN crosses the threshold.
      const rise = this.enRiseMs;
      this.latchTimer = this.clock.afterReal(rise, () => {
        this.latchTimer = null;
        if (this.enLow || !this.plugged) return;
        const cause: ResetCause = this.wiring === 'usb-serial-jtag' ? 'usb-uart' : 'poweron';
        this.hardStart(cause);
      });
    }
  }

  private powerOn(options: { keepLines?: boolean } = {}): void {
    this.enLow = false;
    if (!options.keepLines) {
      this.dtr = false;
      this.rts = false;
    }
    this.usbForceDownload = false;
    const { enLow } = this.pins();
    if (enLow) {
      this.enLow = true;
      this.chip.halt('reset');
      return;
    }
    this.hardStart('poweron');
  }

  /** A reset that samples the strap pins. */
  private hardStart(cause: ResetCause): void {
    let { io0Low } = this.pins();
    // Only a reset the USB-Serial/JTAG peripheral itself caused honours its download request;
    // a watchdog reset in between samples the real strap pin and leaves the request pending.
    if (cause === 'usb-uart') {
      io0Low ||= this.usbForceDownload;
      this.usbForceDownload = false;
    }
    this.latchedDownload = io0Low;
    this.startChip(io0Low, cause, true);
  }

  private softReset(kind: 'reboot' | 'run-app'): void {
    if (kind === 'reboot') this.startChip(this.latchedDownload, 'sw-cpu', true);
    else this.startChip(false, this.chip.lastResetCause, false);
  }

  /** Closes the download session in progress: it wrote the flash, and did the app start after a verify. */
  private endDownloadSession(appStarts: boolean): void {
    const began = this.downloadSession;
    if (!began) return;
    this.downloadSession = null;
    const served = this.chip.served;
    if (served.flashBegins > began.flashBegins) this.counters.writeSessions++;
    // Completed: the host verified (MD5) after its last write began; a session cut in the middle of a
    // write leaves that write unverified, whatever earlier parts it verified.
    const verified = served.md5s > began.md5s && served.md5s > served.md5sAtLastBegin;
    if (appStarts && verified) this.counters.verifiedBoots++;
  }

  private startChip(download: boolean, cause: ResetCause, withRomBanner: boolean): void {
    const chip = this.chip;
    this.endDownloadSession(!download);
    if (download) this.downloadSession = { ...chip.served };
    chip.halt('reset');
    chip.lastResetCause = cause;
    const def = this.def;
    if (download) {
      chip.run('rom', romHandler);
      chip.syncsToIgnore = this.faults.missedSyncs;
      const lines = [...def.romBannerHead, def.resetLine(cause, def.strapDownload, true)];
      // The ESP8266 ROM prints no "waiting for download" line.
      if (def.name !== 'esp8266') lines.push('waiting for download');
      chip.print(lines.join('\r\n') + '\r\n');
      return;
    }
    chip.runSilent('flash-boot');
    const script = bootFromFlash({
      def,
      identity: this.identity,
      flash: this.flash,
      cause,
      appPanics: this.faults.bootLoop,
    });
    const lines = withRomBanner ? script.lines : script.lines.slice(1);
    for (const line of lines) chip.schedule(line.atMs, () => chip.print(line.text));
    const end = script.end;
    if (end.kind === 'reset') {
      const generation = chip.generation;
      const delay = Math.max(this.clock.scaled(end.atMs), MIN_REBOOT_REAL_MS);
      // A boot loop never ends by itself: it must not keep the Node process alive on its own.
      this.clock.afterReal(delay, { unref: true }, () => {
        if (chip.generation !== generation || !this.plugged) return;
        // A watchdog reset samples the straps again; a software reset keeps them.
        if (end.cause === 'rtc-wdt') this.hardStart(end.cause);
        else this.startChip(this.latchedDownload, end.cause, true);
      });
    }
  }
}

/** The port handle the host holds; see SimPortHandle. */
class SimPort implements SimPortHandle {
  private open = true;
  private baud = DEFAULT_HOST_BAUD;
  private readonly dataListeners = new Set<(bytes: Uint8Array) => void>();
  private readonly disconnectListeners = new Set<(reason: Error) => void>();
  private readonly modemListeners = new Set<(inputs: ModemInputs) => void>();

  constructor(private readonly board: SimBoard) {}

  get modemInputs(): ModemInputs {
    return this.board.modemInputs;
  }

  onModemInputs(listener: (inputs: ModemInputs) => void): () => void {
    this.modemListeners.add(listener);
    return () => this.modemListeners.delete(listener);
  }

  /** @internal A modem-status input changed. */
  modemInputsChanged(inputs: ModemInputs): void {
    if (!this.open) return;
    for (const listener of [...this.modemListeners]) listener(inputs);
  }

  get isOpen(): boolean {
    return this.open;
  }

  get baudRate(): number {
    return this.baud;
  }

  write(bytes: Uint8Array): void {
    this.assertOpen();
    // A copy the board owns while the bytes travel (Buffer.slice would only be a view).
    this.board.hostWrite(new Uint8Array(bytes));
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  setSignals(signals: { dtr?: boolean; rts?: boolean }): void {
    this.assertOpen();
    this.board.hostSignals(signals);
  }

  setBaudRate(baudRate: number): void {
    this.assertOpen();
    if (!Number.isInteger(baudRate) || baudRate <= 0)
      throw new SimError(SimErrorCode.INVALID_ARGUMENT, `invalid baud ${baudRate}`);
    this.baud = baudRate;
    this.board.hostBaudChanged(baudRate);
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.board.portClosed(this);
    this.dataListeners.clear();
    this.disconnectListeners.clear();
    this.modemListeners.clear();
  }

  /** @internal Bytes from the chip. */
  deliver(bytes: Uint8Array): void {
    if (!this.open) return;
    for (const listener of [...this.dataListeners]) listener(bytes);
  }

  /** @internal The board went away. */
  disconnect(reason: Error): void {
    if (!this.open) return;
    this.open = false;
    const listeners = [...this.disconnectListeners];
    this.dataListeners.clear();
    this.disconnectListeners.clear();
    this.modemListeners.clear();
    for (const listener of listeners) listener(reason);
  }

  private assertOpen(): void {
    if (!this.open) throw new SimError(SimErrorCode.PORT_CLOSED, 'port is closed');
  }
}
