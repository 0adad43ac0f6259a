/**
 * The boards of a running `flashfarm sim`, one slot per TCP port: the board
 * in it, its RFC 2217 server, its faults. What the control endpoint does to a
 * port happens here — unplug (the chip loses power and the port stops
 * listening, as a USB bridge that vanishes), plug, power-cycle, swap the unit
 * (another board, another MAC, same port: a production-line fixture) — one
 * operation per slot at a time.
 */
import {
  type ChipName,
  defaultMac,
  formatMac,
  type Rfc2217ResetMode,
  type Rfc2217Server,
  SimBoard,
  startRfc2217Server,
  type Wiring,
} from '#sim';
import {
  checkFaultsForBoard,
  type FaultPatch,
  type FaultSettings,
  NO_FAULTS,
  toSimFaults,
} from './faults.js';

/** One board as the fleet describes it (command line or fleet file). */
export interface SimBoardSpec {
  chip: ChipName;
  name: string;
  mac?: string;
  flashSizeBytes?: number;
  wiring?: Wiring;
  /** TCP port for this board; consecutive from the base port when omitted. */
  port?: number;
  /** Faults on from the start (over the fleet's defaults). */
  faults?: FaultPatch;
  /** False: starts unplugged (no power, port not listening) until plugged through the control endpoint. */
  plugged?: boolean;
  /** A fixture lid switch wired to a modem input of the slot's bridge. */
  lid?: FixtureLid;
}

/** The modem inputs a fixture's lid switch can be wired to. */
export const LID_LINES = ['cd', 'cts', 'dsr'] as const;

/**
 * A fixture's "lid closed" switch: wired to one modem input of the port's bridge (asserted while the
 * lid is closed). It belongs to the slot (the fixture), not to the unit under it: a swapped unit
 * finds the lid as the last one left it.
 */
export interface FixtureLid {
  line: (typeof LID_LINES)[number];
  closed: boolean;
}

/** A unit put into a slot by swap(); everything defaults to the slot's previous unit, with a new MAC. */
export interface UnitSpec {
  chip?: ChipName;
  mac?: string;
  flashSizeBytes?: number;
  wiring?: Wiring;
  /** Replaces the slot's faults; the previous unit's faults carry over when absent. */
  faults?: FaultPatch;
}

/** Why an operation on a slot cannot be done; `status` is the HTTP status the control endpoint answers with. */
export class SlotError extends Error {
  constructor(
    readonly code:
      'UNKNOWN_BOARD' | 'BOARD_UNPLUGGED' | 'PORT_IN_USE' | 'INVALID_UNIT' | 'INVALID_RANGE' | 'NO_LID',
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'SlotError';
  }
}

/** A board's place in the fleet: a TCP port, and whatever unit is in it. */
export class SimSlot {
  /** Units this slot has held (1 = the one it started with). */
  unit = 1;
  server: Rfc2217Server | null = null;
  faults: FaultSettings;
  /** The fixture's lid, when the slot has one; it survives unit swaps. */
  lid: FixtureLid | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    public board: SimBoard,
    readonly host: string,
    /** The TCP port; fixed once the first server listened (0 until then, when any free port was asked for). */
    public port: number,
    faults: FaultSettings,
  ) {
    this.faults = faults;
  }

  /** rfc2217://host:port of this slot (the same whatever unit is in it). */
  get url(): string {
    const urlHost = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `rfc2217://${urlHost}:${this.port}`;
  }

  /** True while the unit has power and the port listens. */
  get plugged(): boolean {
    return this.server !== null;
  }

  /** Drives the lid's line on the unit now in the slot (a closed lid asserts it). */
  applyLid(): void {
    if (this.lid) this.board.setModemInputs({ [this.lid.line]: this.lid.closed });
  }

  /** Runs operations on this slot one after the other, never two at once. */
  exclusive<T>(operation: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(operation, operation);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Options of a board built from a spec. */
interface BoardBuild {
  chip: ChipName;
  name: string;
  mac: string | Uint8Array;
  timeScale: number;
  flashSizeBytes?: number;
  wiring?: Wiring;
}

function buildBoard(build: BoardBuild): SimBoard {
  return new SimBoard({
    chip: build.chip,
    name: build.name,
    mac: build.mac,
    timeScale: build.timeScale,
    ...(build.flashSizeBytes === undefined ? {} : { flashSizeBytes: build.flashSizeBytes }),
    ...(build.wiring === undefined ? {} : { wiring: build.wiring }),
  });
}

/** The running fleet: start, the control operations, stop. */
export class SimFleetRunner {
  readonly slots: SimSlot[] = [];
  private readonly byName = new Map<string, SimSlot>();

  constructor(
    private readonly host: string,
    private readonly timeScale: number,
    private readonly resetMode: Rfc2217ResetMode = 'local',
  ) {}

  /**
   * Creates the board of a spec and, unless it starts unplugged, its server.
   * Throws SlotError INVALID_UNIT for a spec the simulator refuses, or the
   * server's error (port in use) — nothing of this slot is left running then.
   */
  async add(spec: SimBoardSpec, port: number, defaults: FaultPatch, flags: FaultPatch): Promise<SimSlot> {
    const faults: FaultSettings = { ...NO_FAULTS, ...defaults, ...spec.faults, ...flags };
    let board: SimBoard;
    try {
      board = buildBoard({
        chip: spec.chip,
        name: spec.name,
        mac: spec.mac ?? defaultMac(spec.chip, spec.name),
        timeScale: this.timeScale,
        flashSizeBytes: spec.flashSizeBytes,
        wiring: spec.wiring,
      });
      checkFaultsForBoard(faults, board.info.flashSizeBytes, `board "${spec.name}"`);
    } catch (error) {
      throw new SlotError('INVALID_UNIT', `board "${spec.name}": ${(error as Error).message}`, 400);
    }
    board.setFaults(toSimFaults(faults));
    const slot = new SimSlot(spec.name, board, this.host, port, faults);
    if (spec.lid) {
      slot.lid = { ...spec.lid };
      slot.applyLid();
    }
    try {
      if (spec.plugged === false) {
        board.unplug();
        // A port chosen by the system must exist before it can be printed and plugged later.
        if (port === 0) {
          const server = await this.listen(slot);
          slot.server = null;
          await server.close();
        }
      } else await this.listen(slot);
    } catch (error) {
      board.dispose();
      throw error;
    }
    this.slots.push(slot);
    this.byName.set(slot.name, slot);
    return slot;
  }

  /** The slot of a board name; SlotError UNKNOWN_BOARD (404) otherwise. */
  get(name: string): SimSlot {
    const slot = this.byName.get(name);
    if (!slot) {
      throw new SlotError(
        'UNKNOWN_BOARD',
        `no board named "${name}"; boards: ${this.slots.map((s) => s.name).join(', ')}`,
        404,
      );
    }
    return slot;
  }

  /** Pulls the USB cable: the chip loses power, a connected client is cut, the port stops listening. */
  unplug(name: string): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(async () => {
      if (!slot.server) return slot;
      slot.board.unplug();
      const server = slot.server;
      slot.server = null;
      await server.close();
      return slot;
    });
  }

  /** Plugs the cable back in: the port listens again (same TCP port) and the chip powers on. */
  plug(name: string): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(async () => {
      if (slot.server) return slot;
      await this.listen(slot);
      slot.board.plug();
      return slot;
    });
  }

  /** Cuts and restores the chip's power; the USB bridge (and a connected client) stay. */
  powerCycle(name: string): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(() => {
      if (!slot.server)
        throw new SlotError('BOARD_UNPLUGGED', `board "${name}" is unplugged; plug it first`, 409);
      slot.board.powerCycle();
      return slot;
    });
  }

  /**
   * Takes the unit out of the slot and puts another in: the old board stops
   * (its client is cut, the port stops listening), a new one with another MAC
   * and blank flash starts behind the same TCP port.
   */
  swap(name: string, unit: UnitSpec): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(async () => {
      const old = slot.board;
      const chip = unit.chip ?? old.def.name;
      const faults: FaultSettings = unit.faults ? { ...NO_FAULTS, ...unit.faults } : slot.faults;
      let board: SimBoard;
      try {
        board = buildBoard({
          chip,
          name: slot.name,
          // Each unit of a slot gets its own MAC, the same on every run of the same fleet.
          mac: unit.mac ?? defaultMac(chip, `${slot.name}#${slot.unit + 1}`),
          timeScale: this.timeScale,
          flashSizeBytes: unit.flashSizeBytes ?? (unit.chip ? undefined : old.info.flashSizeBytes),
          wiring: unit.wiring ?? (unit.chip ? undefined : old.wiring),
        });
        checkFaultsForBoard(faults, board.info.flashSizeBytes, `unit for "${slot.name}"`);
      } catch (error) {
        throw new SlotError('INVALID_UNIT', `cannot swap "${slot.name}": ${(error as Error).message}`, 400);
      }
      if (board.mac === old.mac) {
        board.dispose();
        throw new SlotError(
          'INVALID_UNIT',
          `the new unit of "${slot.name}" has the old unit's MAC ${old.mac}`,
          400,
        );
      }
      board.setFaults(toSimFaults(faults));
      const server = slot.server;
      slot.server = null;
      old.unplug();
      await server?.close();
      old.dispose();
      slot.board = board;
      slot.faults = faults;
      slot.unit++;
      // The fixture stays: the new unit sits under the lid as it is now.
      slot.applyLid();
      await this.listen(slot);
      return slot;
    });
  }

  /** Changes faults: `replace` sets exactly these (the rest off), otherwise only the given ones change. */
  setFaults(name: string, patch: FaultPatch, replace: boolean): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(() => {
      const faults: FaultSettings = { ...(replace ? NO_FAULTS : slot.faults), ...patch };
      checkFaultsForBoard(faults, slot.board.info.flashSizeBytes, `board "${name}"`);
      slot.faults = faults;
      slot.board.setFaults(toSimFaults(faults));
      return slot;
    });
  }

  /**
   * Opens or closes the fixture's lid: its modem line changes and a connected RFC 2217 client gets
   * NOTIFY-MODEMSTATE. `line` wires the lid first (a slot without a lid needs one). SlotError NO_LID
   * (409) for a slot without a lid and no line given.
   */
  setLid(name: string, change: { closed: boolean; line?: FixtureLid['line'] }): Promise<SimSlot> {
    const slot = this.get(name);
    return slot.exclusive(() => {
      const line = change.line ?? slot.lid?.line;
      if (!line)
        throw new SlotError(
          'NO_LID',
          `board "${name}" has no lid; give its fleet entry "lid: cd" (or cts, dsr), or send "line" with the request`,
          409,
        );
      // Rewired to another line: the old one is released.
      if (slot.lid && slot.lid.line !== line) slot.board.setModemInputs({ [slot.lid.line]: false });
      slot.lid = { line, closed: change.closed };
      slot.applyLid();
      return slot;
    });
  }

  /** SHA-256 and MD5 of a flash region of the unit in the slot (readable whether plugged or not). */
  flashHash(name: string, offset: number, length: number): { sha256: string; md5: string } {
    const { board } = this.get(name);
    const size = board.info.flashSizeBytes;
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > size
    ) {
      throw new SlotError(
        'INVALID_RANGE',
        `region 0x${Math.max(0, offset || 0).toString(16)}+${length} is outside the ${size / 1048576} MiB flash (0x0..0x${size.toString(16)})`,
        400,
      );
    }
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
    return {
      sha256: hex(board.flash.digest('sha256', offset, length)),
      md5: hex(board.flash.digest('md5', offset, length)),
    };
  }

  /** Stops every server and board (last started first). */
  async stop(): Promise<void> {
    for (const slot of this.slots.splice(0).reverse()) {
      await slot.exclusive(async () => {
        const server = slot.server;
        slot.server = null;
        await server?.close();
        slot.board.dispose();
      });
    }
    this.byName.clear();
  }

  private async listen(slot: SimSlot): Promise<Rfc2217Server> {
    let server: Rfc2217Server;
    try {
      server = await startRfc2217Server(slot.board, {
        host: slot.host,
        port: slot.port,
        resetMode: this.resetMode,
      });
    } catch (error) {
      if (
        (error as { code?: string }).code === 'EADDRINUSE' &&
        slot.port !== 0 &&
        this.slots.includes(slot)
      ) {
        throw new SlotError(
          'PORT_IN_USE',
          `port ${slot.port} of "${slot.name}" was taken by another program while the board was out`,
          409,
        );
      }
      throw error;
    }
    slot.port = server.port;
    slot.server = server;
    return server;
  }
}

/** The unit's identity and state, as listings and the control endpoint show them. */
export function slotView(slot: SimSlot): Record<string, unknown> {
  const { board } = slot;
  const info = board.info;
  return {
    name: slot.name,
    url: slot.url,
    port: slot.port,
    plugged: slot.plugged,
    clientConnected: board.isPortOpen,
    unit: slot.unit,
    chip: info.chip,
    chipName: info.chipDisplayName,
    mac: formatMac(board.identity.mac),
    revision: info.revision,
    flashSizeBytes: info.flashSizeBytes,
    jedecId: `0x${info.jedecId.toString(16).padStart(6, '0')}`,
    wiring: info.wiring,
    mode: board.mode,
    faults: slot.faults,
    flashCounters: board.flashCounters,
    lid: slot.lid ? { ...slot.lid } : null,
  };
}
