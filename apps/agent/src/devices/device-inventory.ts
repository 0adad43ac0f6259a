/**
 * The boards this agent holds: which port has which board (by MAC), found
 * through hot-plug discovery and static ports, probed when they appear,
 * reported to the api when anything changes (a complete list plus the ports
 * whose board went away).
 */
import { existsSync } from 'node:fs';
import {
  ApiErrorCode,
  type DeviceIdentity,
  type PortAttachment,
  type ReportDevicesRequest,
  type ReportDevicesResponse,
} from '#contracts';
import { listSerialPorts, transportKind, type SerialPortInfo, type SerialPortListing } from '#serial';
import type { AgentConfig } from '../config/agent-config.js';
import { PortFilter } from '../discovery/port-filter.js';
import { findBridge, type UsbBridge } from '../discovery/usb-bridges.js';
import type { PortRegistry } from '../ports/port-registry.js';
import { probeBoard, type ProbeResult } from './board-prober.js';

/** After a failed probe, wait this long before the next one, doubling up to the maximum. */
const PROBE_BACKOFF_MIN_MS = 1_000;
const PROBE_BACKOFF_MAX_MS = 30_000;

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
}

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

  /** Remembers what a run learned about a board (identity refresh after flashing). */
  refreshIdentity(path: string, identity: Partial<DeviceIdentity>): void {
    const e = this.ports.get(path);
    if (e?.identity) e.identity = { ...e.identity, ...identity };
  }

  private async runTick(): Promise<void> {
    if (this.config.ports.discovery) await this.discover();
    const now = Date.now();
    const due = this.entries().filter(
      (e) =>
        e.state !== 'present' &&
        e.nextProbeAt <= now &&
        !this.probing.has(e.path) &&
        !this.registry.holder(e.path),
    );
    await Promise.all(due.map((e) => this.probeEntry(e)));
    if (!this.ticked) {
      this.ticked = true;
      this.dirty = true;
    }
    if (this.dirty) await this.report();
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
      e.identity = found.identity;
      e.resetStrategy = found.resetStrategy;
      e.state = 'present';
      e.probeFailures = 0;
      e.lastProbeError = undefined;
      this.dirty = true;
      this.log(
        'info',
        `${e.path}: ${found.identity.chipDescription ?? found.identity.chip}, MAC ${found.identity.mac}, ` +
          `${(found.identity.flashSizeBytes ?? 0) / 1048576} MiB flash (reset ${found.resetStrategy})`,
      );
    } catch (err) {
      this.noteProbeFailure(e, (err as Error).message);
    } finally {
      this.probing.delete(e.path);
      lease.release();
    }
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
    e.nextProbeAt =
      Date.now() + Math.min(PROBE_BACKOFF_MAX_MS, PROBE_BACKOFF_MIN_MS * 2 ** (e.probeFailures - 1));
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
    e.nextProbeAt = Date.now() + PROBE_BACKOFF_MIN_MS;
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
      this.dirty = false;
      this.pendingGone = new Set();
      try {
        const answer = await reporter({
          present: present.map((e) => ({ identity: e.identity!, attachment: e.attachment })),
          gone,
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
