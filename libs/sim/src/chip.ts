import { type Cancel, IMMEDIATE_BELOW_MS, type SimClock } from './clock.js';
import {
  type ChipDefinition,
  type ChipIdentity,
  type ResetCause,
  type RtcWdtRegisters,
} from './chips/types.js';
import { type SimFlash } from './flash-memory.js';
import { type BlockInflater } from './inflate.js';
import { type Request, parseRequest } from './protocol.js';
import { RegisterFile, type SpiFlashPart } from './registers.js';
import { SlipDecoder } from './slip.js';
import { STUB_STARTUP_MS, ohaiFrame } from './rom-loader.js';
import { type KnownStub, type RamSegment, recogniseRamCode } from './stub-catalogue.js';
import { stubHandler } from './stub-loader.js';

/** What the chip is doing. */
export type ChipMode =
  /** No power (unplugged). */
  | 'off'
  /** EN held low. */
  | 'reset'
  /** ROM serial download loader. */
  | 'rom'
  /** A recognised flasher stub runs from RAM. */
  | 'stub'
  /** Booting or running code from flash (or boot-looping on bad flash). */
  | 'flash-boot'
  /** Jumped into code it cannot simulate; silent until reset. */
  | 'halted';

/** The answer of a command handler: frames to send after a (real-time) delay, then a follow-up action. */
export interface Outcome {
  out: Uint8Array[];
  delayMs: number;
  afterSend?: () => void;
}

/** An open FLASH_BEGIN / FLASH_DEFL_BEGIN session. */
export interface FlashSession {
  compressed: boolean;
  offset: number;
  /** word0 of BEGIN: ROM = bytes to erase, stub = exact bytes to write. */
  size: number;
  numBlocks: number;
  blockSize: number;
  nextSeq: number;
  /** Uncompressed bytes written so far, relative to offset. */
  written: number;
  inflater: BlockInflater | null;
}

/** An open MEM_BEGIN session. */
export interface MemSession {
  address: number;
  size: number;
  numBlocks: number;
  blockSize: number;
  nextSeq: number;
  data: Uint8Array;
  received: number;
}

/** Hooks from the chip to the board around it. */
export interface ChipEnvironment {
  clock: SimClock;
  /** Sends bytes on the chip's TX at its current baud. */
  transmit(bytes: Uint8Array): void;
  /** Text the chip printed (boot log, banners), for the board's console log. */
  printed(text: string): void;
  /** True when programming [offset, offset+length) must fail (fault injection). */
  flashWriteFails(offset: number, length: number): boolean;
  /** A software reset or "run user code" request from the loader. */
  softReset(kind: 'reboot' | 'run-app'): void;
  /** The RTC watchdog expired: a reset that samples the straps again (RTCWDT_RTC_RST). */
  watchdogReset(): void;
  /** The chip's mode changed. */
  modeChanged(mode: ChipMode): void;
  /** Called for a handler bug; the chip carries on. */
  internalError(err: unknown): void;
  /** Something a user should know although the chip carries on (RAM code run as an assumed stub). */
  warn(message: string): void;
  /** When true, RAM code outside the stub catalogue halts the chip instead of running as the newest stub. */
  readonly strictStubs: boolean;
  /** The stubs recognised by content (KNOWN_STUBS unless a board was given its own). */
  readonly stubCatalogue: readonly KnownStub[];
}

/** Handles one request in a given personality (ROM or stub). */
export type CommandHandler = (chip: SimChip, req: Request) => Outcome | Promise<Outcome>;

/** The key that unlocks the RTC watchdog's registers (RTC_CNTL_WDT_WKEY). */
const RTC_WDT_WKEY = 0x50d83aa1;
/** Stage 0 timeout when CONFIG1 was never written (its reset value, 200 000 slow clock cycles). */
const RTC_WDT_DEFAULT_CYCLES = 200_000;

/** Largest frame either personality accepts: a 16 KiB data block plus headers. */
export const MAX_FRAME_BYTES = 8 + 16 + 0x4000 + 64;

/**
 * The chip itself: its register space, its UART receive path and the
 * sequential command processor shared by the ROM and stub personalities.
 * The board decides when it is reset and which personality runs.
 */
export class SimChip {
  private currentMode: ChipMode = 'off';
  /** The chip's UART baud. */
  baud: number;
  /** Before the first CHANGE_BAUDRATE the ROM follows the host's rate (autobaud). */
  autobaud = true;
  readonly regs: RegisterFile;
  flashSession: FlashSession | null = null;
  memSession: MemSession | null = null;
  readonly ram: RamSegment[] = [];
  /** Flash size the ROM believes in (SPI_SET_PARAMS; the ROM assumes 2 MiB until told). */
  spiParamsSize = 2 * 1024 * 1024;
  spiAttached = false;
  stub: KnownStub | null = null;
  /** Stub: error of an acknowledged write, reported on the next command (§1.7). */
  stubDeferredError: number | null = null;
  /** Stub: real time at which the flash finishes the writes already acknowledged. */
  stubFlashIdleAt = 0;
  /** Opcode of the ROM's last reply since reset (0 = none yet). */
  romLastReplyOp = 0;
  /** SYNCs the ROM will still miss after this reset (fault injection). */
  syncsToIgnore = 0;
  /** Stub: READ_FLASH streaming state. */
  readStream: {
    offset: number;
    length: number;
    packet: number;
    sent: number;
    acked: number;
    /** Bytes that may be unacknowledged before the stub waits. */
    window: number;
    /** A packet is being read from flash (packets leave one after the other). */
    reading: boolean;
  } | null = null;
  lastResetCause: ResetCause = 'poweron';
  /**
   * Requests answered successfully since power-up of the simulator, for the board's flash counters;
   * md5sAtLastBegin is what md5s was at the latest flash begin (an MD5 after it verified that write).
   */
  readonly served = { flashBegins: 0, md5s: 0, md5sAtLastBegin: 0 };

  private readonly decoder = new SlipDecoder(MAX_FRAME_BYTES);
  private readonly inbox: Request[] = [];
  private busy = false;
  private epoch = 0;
  private readonly timers = new Set<Cancel>();
  private handler: CommandHandler | null = null;

  constructor(
    readonly def: ChipDefinition,
    readonly flash: SimFlash,
    readonly identity: ChipIdentity,
    readonly part: SpiFlashPart,
    readonly env: ChipEnvironment,
  ) {
    this.baud = def.bannerBaud;
    this.regs = new RegisterFile(def, part);
    this.regs.setReadOnly(def.identityRegisters(identity));
    this.regs.setReadOnly(new Map([[0x40001000, def.magic]]));
    // The divider the ROM's autobaud would have chosen for the current rate (§4.6).
    this.regs.setDynamic(def.uartClkdivReg, () =>
      Math.round((identity.xtalMhz * 1e6 * def.uartClkFactor) / this.baud),
    );
    this.regs.setFlashConnected(() => this.spiAttached || def.flashAttachedAtBoot);
    if (def.rtcWdt) this.installRtcWatchdog(def.rtcWdt);
  }

  /**
   * The RTC watchdog as esptool's watchdog_reset() uses it: unlock with the key,
   * set the timeout, enable stage 0 with a reset action, lock. When the timeout
   * (slow clock cycles) elapses the chip resets and the RTC domain, the
   * watchdog included, starts over. A chip reset before that disarms it.
   */
  private installRtcWatchdog(wdt: RtcWdtRegisters): void {
    let unlocked = false;
    /** Bumps at every (re)configuration, so only the latest arming fires. */
    let arming = 0;
    this.regs.onWrite(wdt.wprotect, (value) => {
      unlocked = value === RTC_WDT_WKEY;
      return true;
    });
    this.regs.onWrite(wdt.config1, () => unlocked);
    this.regs.onWrite(wdt.config0, (value) => {
      if (!unlocked) return false;
      const enabled = (value >>> 31) & 1;
      const stage0 = (value >>> 28) & 7;
      // Action 1 is an interrupt nobody handles in download mode; 2 and above reset.
      const token = ++arming;
      if (enabled && stage0 >= 2) {
        const cycles = this.regs.read(wdt.config1) || RTC_WDT_DEFAULT_CYCLES;
        // Real milliseconds, not scaled: the timeout races the host's own next commands (esptool locks
        // the registers after enabling, then sleeps 0.5 s), as the EN RC delay races its line changes.
        this.scheduleReal((cycles / wdt.slowClockHz) * 1000, () => {
          if (token !== arming) return;
          this.regs.poke(wdt.config0, 0);
          this.regs.poke(wdt.config1, 0);
          this.env.watchdogReset();
        });
      }
      return true;
    });
  }

  /** What the chip is doing; every change is reported to the board. */
  get mode(): ChipMode {
    return this.currentMode;
  }

  set mode(mode: ChipMode) {
    if (mode === this.currentMode) return;
    this.currentMode = mode;
    this.env.modeChanged(mode);
  }

  /** Generation counter: bumps at every reset so stale timers and replies are dropped. */
  get generation(): number {
    return this.epoch;
  }

  /** Stops everything the chip was doing (EN low, power loss). */
  halt(mode: 'off' | 'reset'): void {
    this.epoch++;
    this.mode = mode;
    this.handler = null;
    this.inbox.length = 0;
    this.busy = false;
    this.decoder.reset();
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    this.flashSession?.inflater?.close();
    this.flashSession = null;
    this.memSession = null;
    this.ram.length = 0;
    this.stub = null;
    this.stubDeferredError = null;
    this.readStream = null;
    this.romLastReplyOp = 0;
    this.spiParamsSize = 2 * 1024 * 1024;
    this.spiAttached = false;
    this.autobaud = true;
    this.baud = this.def.bannerBaud;
  }

  /** Switches to a personality that answers commands. */
  run(mode: 'rom' | 'stub', handler: CommandHandler): void {
    this.mode = mode;
    this.handler = handler;
  }

  /** Switches to a mode that ignores input (flash boot, halted). */
  runSilent(mode: 'flash-boot' | 'halted'): void {
    this.mode = mode;
    this.handler = null;
    this.inbox.length = 0;
  }

  /**
   * MEM_END(0, entry): the CPU jumps to RAM. A catalogued flasher stub takes
   * over with its own behaviour (and greets with OHAI if that stub does).
   * Other code is assumed to be a newer stub release and runs as the chip's
   * newest known stub, with a warning naming its digest; with strictStubs, or
   * when no uploaded segment holds the entry, the chip goes silent until the
   * next reset, as for any code the simulator cannot run.
   */
  startRamCode(entry: number): void {
    const code = recogniseRamCode(this.def.name, this.ram, entry, {
      strict: this.env.strictStubs,
      catalogue: this.env.stubCatalogue,
    });
    if (code.kind === 'unknown') {
      this.runSilent('halted');
      return;
    }
    const stub = code.stub;
    if (code.kind === 'assumed') {
      this.env.warn(
        `RAM code at 0x${code.textStart.toString(16)} (entry 0x${entry.toString(16)}, text SHA-256 ${code.textSha256}) ` +
          `is not in the stub catalogue; running it as ${stub.release}, the newest ${this.def.displayName} stub known. ` +
          'Set strictStubs to make unknown code halt the chip instead.',
      );
    }
    if (!stub.behaviour.greets) {
      // The esp-flasher-stub v0.1.0 placeholder attaches the flash and returns into nothing.
      this.runSilent('halted');
      return;
    }
    this.stub = stub;
    this.stubFlashIdleAt = 0;
    this.spiAttached = true;
    this.run('stub', stubHandler);
    this.schedule(STUB_STARTUP_MS, () => this.send(ohaiFrame()));
  }

  /** Prints text on the chip's UART (boot messages). */
  print(text: string): void {
    this.env.printed(text);
    this.env.transmit(Buffer.from(text, 'latin1'));
  }

  /** Sends one already SLIP-framed packet. */
  send(frame: Uint8Array): void {
    this.env.transmit(frame);
  }

  /** Runs fn after a simulated delay unless the chip is reset first. */
  schedule(simMs: number, fn: () => void): void {
    const epoch = this.epoch;
    const cancel = this.env.clock.after(simMs, () => {
      this.timers.delete(cancel);
      if (epoch === this.epoch) fn();
    });
    this.timers.add(cancel);
  }

  /** Runs fn after a real-time delay unless the chip is reset first. */
  private scheduleReal(ms: number, fn: () => void): void {
    const epoch = this.epoch;
    const cancel = this.env.clock.afterReal(ms, () => {
      this.timers.delete(cancel);
      if (epoch === this.epoch) fn();
    });
    this.timers.add(cancel);
  }

  /** True while no command is queued or being handled. */
  get idle(): boolean {
    return !this.busy && this.inbox.length === 0;
  }

  /** Bytes from the UART RX pin. */
  receive(bytes: Uint8Array): void {
    if (!this.handler) return;
    for (const event of this.decoder.push(bytes)) {
      if (event.kind !== 'frame') continue;
      if (this.readStream && this.mode === 'stub') {
        this.onReadAck(event.data);
        continue;
      }
      const req = parseRequest(event.data);
      // Shorter than a header: the loaders ignore it as line noise.
      if (req) this.inbox.push(req);
    }
    this.pump();
  }

  /** Hook the stub personality installs for READ_FLASH acknowledgements. */
  onReadAck: (frame: Uint8Array) => void = () => undefined;

  private pump(): void {
    if (this.busy || this.inbox.length === 0 || !this.handler) return;
    const req = this.inbox.shift()!;
    const handler = this.handler;
    const epoch = this.epoch;
    this.busy = true;
    const finish = (outcome: Outcome): void => {
      if (epoch !== this.epoch) return;
      const complete = (): void => {
        if (epoch !== this.epoch) return;
        for (const frame of outcome.out) this.send(frame);
        this.busy = false;
        outcome.afterSend?.();
        this.pump();
      };
      // A delay below the timers' resolution cannot be observed from the host: answering now
      // rather than one event-loop turn later saves a wake-up per command.
      if (outcome.delayMs < IMMEDIATE_BELOW_MS) {
        complete();
        return;
      }
      const cancel = this.env.clock.afterReal(outcome.delayMs, () => {
        this.timers.delete(cancel);
        complete();
      });
      this.timers.add(cancel);
    };
    const fail = (err: unknown): void => {
      this.env.internalError(err);
      finish({ out: [], delayMs: 0 });
    };
    try {
      const result = handler(this, req);
      if (result instanceof Promise) result.then(finish, fail);
      else finish(result);
    } catch (err) {
      fail(err);
    }
  }
}
