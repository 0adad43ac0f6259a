/**
 * The boards this agent holds: which port has which board (by MAC), found
 * through hot-plug discovery and static ports, probed when they appear,
 * reported to the api when anything changes (a complete list plus the ports
 * whose board went away).
 */
import { existsSync } from 'node:fs';
import {
  ApiErrorCode,
  FlashErrorCode,
  type DeviceIdentity,
  type FixtureCycleFailure,
  type PortAttachment,
  type ReportDevicesRequest,
  type ReportDevicesResponse,
} from '#contracts';
import { listSerialPorts, transportKind, type SerialPortInfo, type SerialPortListing } from '#serial';
import type { AgentConfig, FixtureTrigger } from '../config/agent-config.js';
import { PortFilter } from '../discovery/port-filter.js';
import { findBridge, type UsbBridge } from '../discovery/usb-bridges.js';
import type { PortRegistry } from '../ports/port-registry.js';
import { probeBoard, type ProbeResult } from './board-prober.js';

/** The registry owner name of a lid slot's watch (it holds the port preemptibly between cycles). */
export const LID_WATCH_OWNER = 'lid-watch';

/** After a failed probe, wait this long before the next one, doubling up to FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS. */
const PROBE_BACKOFF_MIN_MS = 1_000;

/**
 * Probe failures that mean a unit is there but did not reach the bootloader (it printed a boot
 * banner, or answered with garbage or errors). Silence (NO_SYNC, a refused connection) is an
 * empty slot to a polling fixture; only an explicit trigger calls silence a failed unit.
 */
const UNIT_ANSWERED: ReadonlySet<string> = new Set([
  FlashErrorCode.WRONG_BOOT_MODE,
  FlashErrorCode.FRAMING,
  FlashErrorCode.ROM_ERROR,
  FlashErrorCode.CHIP_MISMATCH,
]);

/** The api's view of a board, from its answer to a report. */
export interface DeviceSettings {
  deviceId: string;
  state: ReportDevicesResponse['devices'][number]['state'];
  resetSequence: string | null;
  bestBaud: number | null;
}

/** One port the agent knows. */
export interface PortEntry {
  path: string;
  origin: 'static' | 'discovered';
  attachment: PortAttachment;
  bridge?: UsbBridge;
  state: 'unknown' | 'present' | 'absent';
  identity?: DeviceIdentity;
  resetStrategy?: string;
  device?: DeviceSettings;
  probeFailures: number;
  nextProbeAt: number;
  lastProbeError?: string;
  /** Set for a fixture slot: the unit under the port changes every cycle. */
  fixture?: FixtureTrigger;
  /** The unit now on this fixture slot was already recorded as failed (not again until it leaves). */
  unitFailed?: boolean;
  /**
   * A lid slot's lid as the agent last saw it (debounced), and whether its line is watched now
   * (false while a probe or a run holds the port, or while the port cannot be reached).
   */
  lid?: { state: 'unknown' | 'open' | 'closed'; watching: boolean };
}

/** What an explicit "next unit" trigger found on a slot. */
export type NextUnitOutcome = 'identified' | 'failed' | 'busy' | 'unknown-port';

/** Sends a device report; returns the api's answer. */
export type DeviceReporter = (report: ReportDevicesRequest) => Promise<ReportDevicesResponse>;

/** Logs a line (level, text). */
export type InventoryLog = (level: 'debug' | 'info' | 'warn', text: string) => void;

/** Where the inventory gets its facts (the host and the boards unless a test says otherwise). */
export interface InventoryHooks {
  probe?: (path: string, resetStrategy?: string) => Promise<ProbeResult>;
  listPorts?: () => Promise<SerialPortListing>;
}

/** The agent's boards and ports. */
export class DeviceInventory {
  private readonly ports = new Map<string, PortEntry>();
  private readonly filter: PortFilter;
  private readonly probing = new Set<string>();
  private pendingGone = new Set<string>();
  private pendingFailures: FixtureCycleFailure[] = [];
  private reporter: DeviceReporter | undefined;
  private reportChain: Promise<void> = Promise.resolve();
  private dirty = false;
  private ticking: Promise<void> | undefined;
  private listingWarned = false;
  /** A whole discovery round has run (listing and probes). */
  private ticked = false;
  /** The last MAC conflict the api answered, logged once. */
  private lastConflict?: string;

  private readonly probe: NonNullable<InventoryHooks['probe']>;
  private readonly listPorts: NonNullable<InventoryHooks['listPorts']>;

  constructor(
    private readonly config: AgentConfig,
    private readonly registry: PortRegistry,
    private readonly log: InventoryLog,
    hooks: InventoryHooks = {},
  ) {
    this.probe = hooks.probe ?? ((path, resetStrategy) => probeBoard(path, { resetStrategy }));
    this.listPorts = hooks.listPorts ?? (() => listSerialPorts());
    this.filter = new PortFilter(config.ports);
    for (const path of config.ports.static) this.addPort(path, 'static', { portPath: path });
  }

  /** Every known port. */
  entries(): PortEntry[] {
    return [...this.ports.values()];
  }

  /** The entry of a port. */
  entry(path: string): PortEntry | undefined {
    return this.ports.get(path);
  }

  /** Ports with an identified board. */
  present(): PortEntry[] {
    return this.entries().filter((e) => e.state === 'present');
  }

  /** The port holding the board with this MAC or device id. */
  findDevice(key: { mac?: string; deviceId?: string }): PortEntry | undefined {
    return this.present().find(
      (e) =>
        (key.mac !== undefined && e.identity?.mac === key.mac.toLowerCase()) ||
        (key.deviceId !== undefined && e.device?.deviceId === key.deviceId),
    );
  }

  /** Starts reporting to the api (after registration); the first report is a complete list. */
  setReporter(reporter: DeviceReporter): Promise<void> {
    this.reporter = reporter;
    this.dirty = true;
    return this.report();
  }

  /** One discovery round: list ports, add/remove, probe what needs probing, report changes. */
  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** A run found the board gone: forget it and re-probe the port later. */
  markGone(path: string, why: string): void {
    const e = this.ports.get(path);
    if (!e || e.state !== 'present') return;
    this.log('warn', `${path}: board ${e.identity?.mac ?? ''} is gone (${why})`);
    this.setAbsent(e);
    void this.report();
  }

  /**
   * Identifies the board on a port again, now, while the caller holds the port (a run that found
   * another unit there): the entry takes the new identity and the api hears of it before this
   * resolves, so whatever the caller reports next can name a board the api knows. Undefined when
   * nothing answers (the port is then absent and probed again later).
   */
  async reidentify(path: string): Promise<ProbeResult | undefined> {
    const e = this.ports.get(path);
    if (!e) return undefined;
    let found: ProbeResult;
    try {
      found = await this.probe(path, e.resetStrategy ?? e.bridge?.resetStrategy ?? undefined);
    } catch (err) {
      this.noteProbeFailure(e, (err as Error).message);
      if (e.state === 'absent' && e.identity) this.setAbsent(e);
      await this.report();
      return undefined;
    }
    await this.takeIdentity(e, found);
    await this.report();
    return found;
  }

  /** Remembers what a run learned about a board (identity refresh after flashing). */
  refreshIdentity(path: string, identity: Partial<DeviceIdentity>): void {
    const e = this.ports.get(path);
    if (e?.identity) e.identity = { ...e.identity, ...identity };
  }

  private async runTick(): Promise<void> {
    if (this.config.ports.discovery) await this.discover();
    const now = Date.now();
    const due = this.entries().filter(
      (e) => this.probeDue(e, now) && !this.probing.has(e.path) && !this.registry.holder(e.path),
    );
    await Promise.all(due.map((e) => this.probeEntry(e)));
    if (!this.ticked) {
      this.ticked = true;
      this.dirty = true;
    }
    if (this.dirty) await this.report();
  }

  /**
   * Whether a port is due a probe. An ordinary port is probed until a board is found there; a
   * probe-triggered fixture slot also while a unit is present (the unit may have been swapped) at the
   * poll rate; a manually triggered slot once at start (units already there are taken), then only
   * on `next()`.
   */
  private probeDue(e: PortEntry, now: number): boolean {
    // A lid slot is probed when its lid closes (FixtureLidWatch), never on its own: with the lid
    // open the unit is being taken out or put in, and a probe would reset it under the operator's hand.
    if (e.fixture === 'lid') return false;
    if (e.fixture === 'manual') return e.state === 'unknown';
    if (e.fixture === 'probe') return e.nextProbeAt <= now;
    return e.state !== 'present' && e.nextProbeAt <= now;
  }

  /** Fixture slots (ports with a trigger) and what is on them now. */
  fixtureSlots(): PortEntry[] {
    return this.entries().filter((e) => e.fixture !== undefined);
  }

  /**
   * An explicit "next unit" on a fixture slot (an operator's button, `flashfarm station next`): the
   * slot is probed now and whatever answers starts a new cycle, the same unit again included (a
   * re-test); a unit that does not reach the bootloader is a failed cycle, silence included.
   */
  async next(path: string): Promise<NextUnitOutcome> {
    const e = this.ports.get(path);
    if (!e) return 'unknown-port';
    // A lid slot's port is held by its lid watch between cycles, preemptibly: take it from the watch.
    // A closed lid says a unit is there, so its cycle waits for a port a run still holds instead of
    // being dropped as busy.
    const lease =
      e.fixture === 'lid'
        ? await this.registry.acquire(path, 'fixture-next')
        : this.registry.tryAcquire(path, 'fixture-next');
    if (!lease) return 'busy';
    this.probing.add(path);
    try {
      let found: ProbeResult;
      try {
        found = await this.probe(path, e.resetStrategy ?? e.device?.resetSequence ?? e.bridge?.resetStrategy);
      } catch (err) {
        this.probeFailed(e, err, true);
        await this.report();
        return 'failed';
      }
      if (e.state === 'present') {
        // The api closes the stay first, so the same unit again opens a new one: a new cycle.
        this.setAbsent(e);
        await this.report();
      }
      await this.takeIdentity(e, found);
      await this.report();
      return 'identified';
    } finally {
      this.probing.delete(path);
      lease.release();
    }
  }

  /**
   * The lid of a lid slot opened: the unit under it is being taken out. It is gone now (its stay
   * ends), and nothing probes or flashes the slot until the lid closes again.
   */
  async lidOpened(path: string): Promise<void> {
    const e = this.ports.get(path);
    if (!e) return;
    e.lid = { state: 'open', watching: e.lid?.watching ?? false };
    if (e.state === 'present') {
      this.log('info', `${path}: lid opened, unit ${e.identity?.mac ?? ''} removed`);
      this.setAbsent(e);
    } else if (e.state === 'unknown') {
      e.state = 'absent';
      this.dirty = true;
    }
    e.unitFailed = false;
    this.log('info', `${path}: lid open, waiting for it to close before taking a unit`);
    await this.report();
  }

  /**
   * The lid of a lid slot closed: a unit is in the fixture, and a new cycle starts as on "next unit"
   * (identified and recorded, or a failed cycle when it does not reach the bootloader).
   */
  async lidClosed(path: string): Promise<NextUnitOutcome> {
    const e = this.ports.get(path);
    if (!e) return 'unknown-port';
    e.lid = { state: 'closed', watching: e.lid?.watching ?? false };
    this.log('info', `${path}: lid closed, identifying the unit`);
    return this.next(path);
  }

  /** Records whether a lid slot's line is being watched (for the slot's state and its log). */
  lidWatching(path: string, watching: boolean): void {
    const e = this.ports.get(path);
    if (e) e.lid = { state: e.lid?.state ?? 'unknown', watching };
  }

  /**
   * A lid slot's port cannot be reached: an empty slot so far (reports can be complete), while a
   * unit already there stays until a run or the lid says otherwise (a network blip is not a swap).
   */
  lidUnreachable(path: string, why: string): void {
    const e = this.ports.get(path);
    if (!e) return;
    e.lid = { state: e.lid?.state ?? 'unknown', watching: false };
    if (e.state !== 'present') this.noteProbeFailure(e, why);
  }

  private async discover(): Promise<void> {
    const listing = await this.listPorts();
    if (listing.incompleteReason && !this.listingWarned) {
      this.listingWarned = true;
      this.log('warn', `port discovery is incomplete: ${listing.incompleteReason}`);
    }
    const seen = new Set<string>();
    for (const info of listing.ports) {
      if (!this.filter.accepts([info.path, info.byIdPath])) continue;
      seen.add(info.path);
      const known = this.ports.get(info.path);
      if (!known) {
        this.addPort(info.path, 'discovered', attachmentOf(info));
        this.log('info', `${info.path}: new port (${describe(info)})`);
      } else if (known.origin === 'static' && known.attachment.usbVid === undefined) {
        // A static path that is also a USB port: take its USB identity and bridge from the listing.
        const bridge = findBridge(info.vendorId, info.productId);
        known.attachment = { ...attachmentOf(info), ...(bridge ? { bridge: bridge.name } : {}) };
        known.bridge = bridge;
        this.dirty = true;
      }
    }
    for (const e of this.entries()) {
      if (e.origin !== 'discovered' || seen.has(e.path)) continue;
      this.log('info', `${e.path}: port vanished`);
      if (e.state === 'present') this.pendingGone.add(e.path);
      this.ports.delete(e.path);
      this.dirty = true;
    }
  }

  private addPort(path: string, origin: PortEntry['origin'], attachment: PortAttachment): void {
    const bridge = findBridge(
      attachment.usbVid?.toString(16).padStart(4, '0'),
      attachment.usbPid?.toString(16).padStart(4, '0'),
    );
    this.ports.set(path, {
      path,
      origin,
      attachment: bridge ? { ...attachment, bridge: bridge.name } : attachment,
      bridge,
      state: 'unknown',
      probeFailures: 0,
      nextProbeAt: 0,
      fixture: this.config.fixtures.get(path),
      ...(this.config.fixtureLids.has(path) ? { lid: { state: 'unknown' as const, watching: false } } : {}),
    });
  }

  private async probeEntry(e: PortEntry): Promise<void> {
    if (e.origin === 'static' && transportKind(e.path) === 'serial' && !existsSync(e.path)) {
      this.noteProbeFailure(e, 'no such device');
      return;
    }
    const lease = this.registry.tryAcquire(e.path, 'probe');
    if (!lease) return;
    this.probing.add(e.path);
    try {
      const found = await this.probe(
        e.path,
        e.resetStrategy ?? e.device?.resetSequence ?? e.bridge?.resetStrategy ?? undefined,
      );
      if (!this.ports.has(e.path)) return; // vanished while probing
      if (e.fixture === 'probe') e.nextProbeAt = Date.now() + this.config.fixturePollMs;
      // A fixture slot polled while its unit stays: nothing changed.
      if (e.state === 'present' && e.identity?.mac === found.identity.mac) return;
      await this.takeIdentity(e, found);
    } catch (err) {
      // A port that just appeared on an "appear" slot means a unit was put there, answer or not.
      if (this.ports.has(e.path)) this.probeFailed(e, err, e.fixture === 'appear' && e.state === 'unknown');
    } finally {
      this.probing.delete(e.path);
      lease.release();
    }
  }

  /** A probe found a board on the port: it is present there (and gone from any other port). */
  private async takeIdentity(e: PortEntry, found: ProbeResult): Promise<void> {
    // A board is its MAC: if it shows up here it has left the port it was on, unless it still answers
    // there (two boards with one MAC: cloned modules, two simulators). Asked once, so a clone never
    // makes the board hop between the ports (each hop resetting both); both stay present and the api
    // holds the board in conflict.
    for (const other of this.present()) {
      if (other === e || other.identity?.mac !== found.identity.mac) continue;
      if (await this.stillAnswers(other, found.identity.mac))
        this.log(
          'warn',
          `${found.identity.mac} answers on ${other.path} and on ${e.path}: two boards share one MAC (a cloned module?); the api holds it in conflict until one is unplugged or an operator picks one`,
        );
      else {
        this.log('info', `${found.identity.mac} moved from ${other.path} to ${e.path}`);
        this.setAbsent(other);
      }
    }
    const before = e.state === 'present' ? e.identity?.mac : undefined;
    if (before && before !== found.identity.mac) {
      // Another unit on the same port: the api closes the old one's attachment when it hears of the new.
      this.log('info', `${e.path}: ${before} was replaced by ${found.identity.mac}`);
      e.device = undefined;
    }
    e.identity = found.identity;
    e.resetStrategy = found.resetStrategy;
    e.unitFailed = false;
    e.state = 'present';
    e.probeFailures = 0;
    e.lastProbeError = undefined;
    this.dirty = true;
    this.log(
      'info',
      `${e.path}: ${found.identity.chipDescription ?? found.identity.chip}, MAC ${found.identity.mac}, ` +
        `${(found.identity.flashSizeBytes ?? 0) / 1048576} MiB flash (reset ${found.resetStrategy})`,
    );
  }

  /**
   * A probe found no board. On a fixture slot a unit that was there has left, and a unit that is
   * there but does not reach the bootloader is a failed cycle (once per unit): `silenceIsUnit` when
   * the cycle was triggered by something that says a unit is there (an explicit next, a port that
   * appeared), so that even no answer at all is a failure.
   */
  private probeFailed(e: PortEntry, err: unknown, silenceIsUnit: boolean): void {
    const message = (err as Error).message;
    const code = (err as { code?: unknown }).code;
    if (e.fixture && e.state === 'present') {
      this.log('info', `${e.path}: unit ${e.identity?.mac ?? ''} left the fixture (${message})`);
      this.setAbsent(e);
    }
    this.noteProbeFailure(e, message);
    if (!e.fixture) return;
    const answered = typeof code === 'string' && UNIT_ANSWERED.has(code);
    if (!answered && !silenceIsUnit) {
      e.unitFailed = false; // an empty slot: the next unit that fails is another one
      return;
    }
    if (e.unitFailed && !silenceIsUnit) return;
    e.unitFailed = true;
    this.log('warn', `${e.path}: the unit did not reach the bootloader (${message})`);
    this.pendingFailures.push({
      portPath: e.path,
      code: typeof code === 'string' ? code : FlashErrorCode.NO_SYNC,
      message: message.slice(0, 2000),
      at: new Date().toISOString(),
    });
    this.dirty = true;
  }

  /** True when the board on `e` still answers with `mac` (a port a run holds counts as answering). */
  private async stillAnswers(e: PortEntry, mac: string): Promise<boolean> {
    const lease = this.registry.tryAcquire(e.path, 'probe');
    if (!lease) return true;
    try {
      const again = await this.probe(e.path, e.resetStrategy ?? e.device?.resetSequence ?? undefined);
      return again.identity.mac === mac;
    } catch {
      return false;
    } finally {
      lease.release();
    }
  }

  private noteProbeFailure(e: PortEntry, why: string): void {
    e.probeFailures++;
    // A polling fixture slot keeps its rate (a new unit is expected any moment); other ports back off.
    e.nextProbeAt =
      Date.now() +
      (e.fixture === 'probe'
        ? this.config.fixturePollMs
        : Math.min(this.config.probeBackoffMaxMs, PROBE_BACKOFF_MIN_MS * 2 ** (e.probeFailures - 1)));
    if (e.lastProbeError !== why)
      this.log(e.probeFailures === 1 ? 'info' : 'debug', `${e.path}: no board (${why})`);
    e.lastProbeError = why;
    if (e.state !== 'absent') {
      e.state = 'absent';
    }
  }

  private setAbsent(e: PortEntry): void {
    if (e.state === 'present') this.pendingGone.add(e.path);
    e.state = 'absent';
    e.identity = undefined;
    e.device = undefined;
    e.nextProbeAt = Date.now() + (e.fixture === 'probe' ? this.config.fixturePollMs : PROBE_BACKOFF_MIN_MS);
    this.dirty = true;
  }

  /** Sends the complete list and the gone ports; serialised so reports arrive in order. */
  private report(): Promise<void> {
    const reporter = this.reporter;
    if (!reporter) return Promise.resolve();
    this.reportChain = this.reportChain.then(async () => {
      if (!this.dirty && this.pendingGone.size === 0) return;
      const gone = [...this.pendingGone].filter((p) => this.ports.get(p)?.state !== 'present');
      const present = this.present();
      const cycleFailures = this.pendingFailures.splice(0);
      this.dirty = false;
      this.pendingGone = new Set();
      try {
        const answer = await reporter({
          present: present.map((e) => ({ identity: e.identity!, attachment: e.attachment })),
          gone,
          ...(cycleFailures.length ? { cycleFailures } : {}),
          // Until every port was probed once, boards not listed yet may just be unprobed: not gone.
          complete: this.ticked && this.entries().every((e) => e.state !== 'unknown'),
        });
        for (const d of answer.devices ?? []) {
          const e = present.find((p) => p.identity?.mac === d.mac.toLowerCase());
          if (e)
            e.device = {
              deviceId: d.deviceId,
              state: d.state,
              resetSequence: d.resetSequence,
              bestBaud: d.bestBaud,
            };
        }
      } catch (err) {
        if ((err as { code?: string }).code === ApiErrorCode.DEVICE_CONFLICT) {
          // Applied, with a MAC held in conflict: nothing to send again until something changes.
          const detail = (err as { detail?: string }).detail ?? (err as Error).message;
          if (detail !== this.lastConflict) this.log('warn', `device report: ${detail}`);
          this.lastConflict = detail;
          return;
        }
        // Try again with the next tick: the list is complete each time, so nothing is lost.
        this.dirty = true;
        for (const p of gone) this.pendingGone.add(p);
        this.pendingFailures.unshift(...cycleFailures);
        this.log('warn', `device report failed: ${(err as Error).message}`);
      }
    });
    return this.reportChain;
  }
}

function attachmentOf(info: SerialPortInfo): PortAttachment {
  const a: PortAttachment = { portPath: info.path };
  if (info.vendorId) a.usbVid = parseInt(info.vendorId, 16);
  if (info.productId) a.usbPid = parseInt(info.productId, 16);
  if (info.serialNumber) a.usbSerial = info.serialNumber;
  if (info.location) a.location = info.location;
  return a;
}

function describe(info: SerialPortInfo): string {
  const bridge = findBridge(info.vendorId, info.productId);
  const id = info.vendorId && info.productId ? `${info.vendorId}:${info.productId}` : 'no USB id';
  return [
    id,
    bridge?.name,
    info.serialNumber && `serial ${info.serialNumber}`,
    info.location && `at ${info.location}`,
  ]
    .filter(Boolean)
    .join(', ');
}
