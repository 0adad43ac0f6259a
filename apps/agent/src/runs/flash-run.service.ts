/**
 * One flash run on one board, in named steps: locate the board (by MAC), fetch
 * the firmware, take the port, choose the link (baud, reset strategy), flash
 * with the agent's same-board retries, record what was learned, check the
 * boot. A step that cannot go on throws a RunFailure, which becomes the
 * result. The transport comes from an injected factory, so the whole service
 * runs against simulated boards in tests.
 */
import { FlashErrorCode, type FlashRunPayload, type RegionResult, type RunResultPayload } from '#contracts';
import { DEFAULT_FLASH_BAUD, flash, type FlasherEvent, type FlashResult, type Transport } from '#esp';
import type { AgentConfig } from '../config/agent-config.js';
import { jedecWireOrder } from '../devices/board-prober.js';
import type { DeviceInventory, PortEntry } from '../devices/device-inventory.js';
import { capBaud } from '../discovery/usb-bridges.js';
import type { FirmwareCache } from '../firmware/firmware-cache.js';
import type { PortLease, PortRegistry } from '../ports/port-registry.js';
import type { TransportFactory } from '../ports/transport-factory.js';
import { type BootCheckResult, defaultConsoleBaud, runBootCheck } from './boot-check.js';
import { BootPatternMatcher } from './boot-pattern-matcher.js';
import { decideAfterFailure, errorCodeOf } from './fault-policy.js';
import type { LearnedSettings } from './learned-settings.js';
import type { RunReporter } from './run-reporter.js';
import { decodeUnitRegion } from './unit-regions.js';

/** Why a run was aborted from outside. */
export class RunAbort extends Error {
  constructor(
    readonly kind: 'cancel' | 'shutdown',
    reason: string,
  ) {
    super(reason);
    this.name = 'RunAbort';
  }
}

/** Collaborators of the run service. */
export interface FlashRunDeps {
  config: Pick<AgentConfig, 'runRetries' | 'reopenWaitMs'>;
  inventory: DeviceInventory;
  registry: PortRegistry;
  cache: Pick<FirmwareCache, 'get'>;
  learned: LearnedSettings;
  /** Creates the (closed) transport of a port: serial, RFC 2217, or a simulated board in tests. */
  transportFor: TransportFactory;
}

interface Failure {
  code: FlashErrorCode;
  message: string;
  requeue?: boolean;
  status?: 'failed' | 'cancelled';
}

/** A step that cannot go on: the failure and whatever the result already holds. */
class RunFailure extends Error {
  constructor(
    readonly failure: Failure,
    readonly extra: Partial<RunResultPayload> = {},
  ) {
    super(failure.message);
    this.name = 'RunFailure';
  }
}

/** What the steps of one run share. */
interface RunContext {
  payload: FlashRunPayload;
  reporter: RunReporter;
  signal: AbortSignal;
  started: number;
  timings: Record<string, number>;
}

type Image = { offset: number; data: Uint8Array; name: string };

/** The link a run starts with (the flasher steps the baud down by itself). */
interface Link {
  portPath: string;
  entry: PortEntry | undefined;
  baud: number;
  resetStrategy: string | undefined;
}

/** A verified flash, the agent's same-board retries, and the transport still open (boot check). */
interface Flashed {
  result: FlashResult;
  retries: number;
  transport: Transport;
}

/** Executes flash runs. */
export class FlashRunService {
  constructor(private readonly deps: FlashRunDeps) {}

  /** Runs the flash and returns the result to report; never throws for a failed flash. */
  async execute(
    payload: FlashRunPayload,
    reporter: RunReporter,
    signal: AbortSignal,
  ): Promise<RunResultPayload> {
    const run: RunContext = { payload, reporter, signal, started: Date.now(), timings: {} };
    try {
      const portPath = this.locateBoard(run);
      const images = await this.fetchFirmware(run);
      const lease = await this.acquirePort(run, portPath);
      try {
        const link = this.chooseLink(run, portPath);
        const flashed = await this.flashWithRetries(run, link, images);
        const outcome = this.recordResult(run, link, flashed);
        await this.checkBoot(run, flashed, outcome);
        return this.succeeded(run, flashed.result, outcome);
      } finally {
        lease.release();
      }
    } catch (err) {
      if (err instanceof RunFailure) return this.failed(run, err);
      throw err;
    }
  }

  /** A board is its MAC: if it moved to another port of this agent, the run follows it there. */
  private locateBoard(run: RunContext): string {
    const { payload, reporter } = run;
    const { inventory } = this.deps;
    const located = inventory.findDevice({ mac: payload.mac });
    const portPath = located?.path ?? payload.portPath;
    reporter.started(portPath);
    if (portPath !== payload.portPath)
      reporter.log(
        'info',
        'run',
        `board ${payload.mac} is now on ${portPath} (dispatched for ${payload.portPath})`,
      );
    const occupant = located ? undefined : inventory.entry(portPath);
    const other = occupant?.state === 'present' ? occupant.identity : undefined;
    if (other && other.mac !== payload.mac.toLowerCase()) {
      throw new RunFailure(
        {
          code: 'DEVICE_CHANGED',
          message: `${portPath} now holds board ${other.mac}, not ${payload.mac}; nothing was written — handing the run back`,
          requeue: true,
        },
        { observed: { mac: other.mac, chip: other.chip } },
      );
    }
    reporter.log(
      'info',
      'run',
      `run ${payload.runId} (attempt ${payload.attempt}) on ${portPath}: firmware ${payload.firmware.sha256.slice(0, 12)} for ${payload.firmware.chip}, ${payload.firmware.parts.length} part(s)${payload.unitRegions?.length ? ` + ${payload.unitRegions.length} per-unit region(s)` : ''}`,
    );
    return portPath;
  }

  /** Firmware first: a download problem must not hold the port. */
  private async fetchFirmware(run: RunContext): Promise<Image[]> {
    const fetchStart = Date.now();
    const images: Image[] = [];
    try {
      for (const part of run.payload.firmware.parts) {
        const { data, cached } = await this.deps.cache.get(part, run.signal);
        images.push({ offset: part.offset, data, name: part.role });
        run.reporter.log(
          'info',
          'fetch',
          `${part.role} at 0x${part.offset.toString(16)} (${data.length} bytes) ${cached ? 'from the cache' : 'downloaded'}`,
        );
      }
    } catch (err) {
      throw new RunFailure(
        abortFailure(run.signal) ?? {
          code: 'INFRASTRUCTURE',
          message: `firmware fetch failed: ${(err as Error).message}`,
          requeue: true,
        },
      );
    }
    images.push(...this.unitImages(run));
    images.sort((a, b) => a.offset - b.offset);
    run.timings.fetchMs = Date.now() - fetchStart;
    return images;
  }

  /**
   * The regions made for this unit (its NVS partition) travel inline in the payload: their bytes are
   * written only when their SHA-256 is the one the api computed, so a damaged payload writes nothing.
   */
  private unitImages(run: RunContext): Image[] {
    return (run.payload.unitRegions ?? []).map((region) => {
      const decoded = decodeUnitRegion(region);
      if ('problem' in decoded)
        throw new RunFailure({
          code: 'INFRASTRUCTURE',
          message: `${decoded.problem}; nothing was written — handing the run back`,
          requeue: true,
        });
      const { data } = decoded;
      run.reporter.log(
        'info',
        'fetch',
        `${region.role} (this unit's data) at 0x${region.offset.toString(16)} (${data.length} bytes), SHA-256 checked`,
      );
      return { offset: region.offset, data, name: region.role };
    });
  }

  private async acquirePort(run: RunContext, portPath: string): Promise<PortLease> {
    const waitStart = Date.now();
    try {
      const lease = await this.deps.registry.acquire(portPath, `run:${run.payload.runId}`, {
        signal: run.signal,
      });
      run.timings.waitPortMs = Date.now() - waitStart;
      return lease;
    } catch {
      throw new RunFailure(
        abortFailure(run.signal) ?? { code: 'INTERNAL', message: 'could not get the port' },
      );
    }
  }

  /**
   * The starting baud: the lowest of the job's, the device's best and what this port (or bridge type)
   * learned, capped by the bridge, or one rung higher after clean runs (LearnedSettings.startBaud). The reset strategy: the device's own sequence, else the learned,
   * probed or bridge one.
   */
  private chooseLink(run: RunContext, portPath: string): Link {
    const { payload } = run;
    const entry = this.deps.inventory.entry(portPath);
    const bridge = entry?.bridge;
    const learnedPort = this.deps.learned.port(portPath);
    const { baud, climbedFrom } = this.deps.learned.startBaud(portPath, bridge?.name, {
      requested: capBaud(payload.options.baud ?? DEFAULT_FLASH_BAUD, bridge),
      deviceBest: payload.device.bestBaud,
    });
    if (climbedFrom)
      run.reporter.log(
        'info',
        'baud',
        `trying ${baud} baud again after clean runs at ${climbedFrom} on ${portPath}`,
      );
    const resetStrategy =
      payload.device.resetSequence ??
      entry?.device?.resetSequence ??
      learnedPort?.resetStrategy ??
      entry?.resetStrategy ??
      bridge?.resetStrategy;
    return { portPath, entry, baud, resetStrategy };
  }

  /**
   * Flashes, and after a failed session decides by the failure policy: another session on the same
   * board, hand the run back (the port is marked gone), or fail. The flasher's own ladders are not
   * walked again here (see fault-policy.ts).
   */
  private async flashWithRetries(run: RunContext, link: Link, images: Image[]): Promise<Flashed> {
    const { payload, reporter, signal } = run;
    const { config } = this.deps;
    const onEvent = progressRelay(run);
    const retriesByCode = new Map<FlashErrorCode, number>();
    let resetStrategy = link.resetStrategy;
    let retries = 0;
    const flashStart = Date.now();
    for (let attempt = 0; ; attempt++) {
      reporter.log(
        'info',
        'run',
        `flashing at ${link.baud} baud${resetStrategy ? `, reset ${resetStrategy}` : ''}`,
      );
      const transport = this.deps.transportFor(link.portPath);
      try {
        const result = await flash(transport, images, {
          ...flashOptions(payload),
          baud: link.baud,
          resetStrategy,
          reopenWaitMs: config.reopenWaitMs,
          signal,
          onEvent,
        });
        run.timings.flashMs = Date.now() - flashStart;
        return { result, retries, transport };
      } catch (err) {
        await transport.close().catch(() => undefined);
        const stop = abortFailure(signal);
        if (stop) throw new RunFailure(stop, { retries });
        const code = errorCodeOf(err);
        const message = (err as Error).message;
        const action = decideAfterFailure(code, {
          retries,
          retriesOfCode: retriesByCode.get(code) ?? 0,
          maxRetries: config.runRetries,
          resetStrategy,
        });
        if (action.kind === 'requeue' && code === 'DEVICE_CHANGED')
          throw await this.changed(run, link, message);
        if (action.kind === 'requeue') {
          this.deps.inventory.markGone(link.portPath, message);
          throw new RunFailure(
            { code, message: `${message} — handing the run back`, requeue: true },
            { retries },
          );
        }
        if (action.kind === 'fail') throw new RunFailure({ code, message }, { retries });
        retries++;
        retriesByCode.set(code, (retriesByCode.get(code) ?? 0) + 1);
        reporter.log(
          'warn',
          'run',
          `${action.why} (attempt ${attempt + 2} of ${config.runRetries + 1}): ${message}`,
        );
        resetStrategy = action.resetStrategy;
      }
    }
  }

  /**
   * Another unit answered on the port (expectMac): nothing was written. The port is identified again
   * while the run still holds it, so the api hears of the unit actually there before the run's result
   * names it, and files the run under that unit instead of the board it was for.
   */
  private async changed(run: RunContext, link: Link, message: string): Promise<RunFailure> {
    const found = await this.deps.inventory.reidentify(link.portPath).catch(() => undefined);
    if (found)
      run.reporter.log(
        'info',
        'run',
        `${link.portPath} holds ${found.identity.mac} (${found.identity.chip})`,
      );
    return new RunFailure(
      { code: 'DEVICE_CHANGED', message: `${message} — handing the run back`, requeue: true },
      found ? { observed: { mac: found.identity.mac, chip: found.identity.chip } } : {},
    );
  }

  /** Remembers what worked (baud, reset strategy, identity) and builds the result so far. */
  private recordResult(run: RunContext, link: Link, flashed: Flashed): RunResultPayload {
    const { result: done } = flashed;
    const { portPath, entry } = link;
    const parts = sortedParts(run.payload);
    const regions: RegionResult[] = parts.map((part, i) => {
      const r = done.regions[i];
      return {
        offset: part.offset,
        size: part.size,
        sha256: part.sha256,
        md5: part.md5,
        ...(r?.verified ? { verifiedMd5: r.md5 } : {}),
        written: r?.bytesWritten ?? 0,
        skipped: r ? r.size - r.bytesWritten : 0,
      };
    });
    this.deps.learned.recordSuccess(portPath, entry?.bridge?.name, {
      baud: done.baud,
      resetStrategy: done.resetStrategy,
      fellBack: done.baudFallbacks.length > 0,
    });
    if (entry) entry.resetStrategy = done.resetStrategy;
    const identity = {
      mac: done.chip.mac.toLowerCase(),
      chip: done.chip.chip,
      chipRevision: done.chip.revision.major * 100 + done.chip.revision.minor,
      flashJedecId: jedecWireOrder(done.chip.flashId),
      flashSizeBytes: done.chip.flashSizeBytes,
    };
    this.deps.inventory.refreshIdentity(portPath, identity);
    if (done.baudFallbacks.length > 0)
      run.reporter.log(
        'info',
        'baud',
        `learned: ${done.baud} baud works on ${portPath} (fell back from ${done.baudFallbacks.join(', ')})`,
      );
    return {
      status: 'succeeded',
      retries: flashed.retries + done.retries,
      baud: done.baud,
      bytesWritten: done.bytesWritten,
      bytesSkipped: done.bytesSkipped,
      regions,
      timings: run.timings,
      learned: { bestBaud: done.baud, resetStrategy: done.resetStrategy },
      identity,
    };
  }

  /** With a boot check: reset into the app and wait for its pattern. Closes the transport either way. */
  private async checkBoot(run: RunContext, flashed: Flashed, outcome: RunResultPayload): Promise<void> {
    const { transport, result: done } = flashed;
    const bootCheck = run.payload.options.bootCheck;
    if (!bootCheck) {
      await transport.close().catch(() => undefined);
      return;
    }
    const checkStart = Date.now();
    const appBaud = bootCheck.baud ?? defaultConsoleBaud(done.chip.chip);
    run.reporter.log(
      'info',
      'boot-check',
      `waiting up to ${bootCheck.timeoutMs} ms for /${bootCheck.pattern}/ at ${appBaud} baud`,
    );
    let check: BootCheckResult;
    let matched: string | undefined;
    let matcher: BootPatternMatcher | undefined;
    try {
      matcher = await BootPatternMatcher.start(bootCheck.pattern);
      check = await runBootCheck(transport, {
        matcher,
        timeoutMs: bootCheck.timeoutMs,
        baud: appBaud,
        resetStrategy: done.resetStrategy,
        signal: run.signal,
      });
      matched = matcher.lastMatch;
    } catch (err) {
      const failure = abortFailure(run.signal) ?? {
        code: errorCodeOf(err),
        message: `boot check: ${(err as Error).message}`,
      };
      throw new RunFailure(failure, outcome);
    } finally {
      await matcher?.close();
      await transport.close().catch(() => undefined);
    }
    run.timings.bootCheckMs = Date.now() - checkStart;
    outcome.bootCheck = {
      passed: check.matched,
      elapsedMs: check.elapsedMs,
      ...(check.matched && matched !== undefined ? { matched } : {}),
    };
    if (!check.matched) {
      throw new RunFailure(
        {
          code: 'BOOT_CHECK_FAILED',
          message: `the app did not print /${bootCheck.pattern}/ within ${bootCheck.timeoutMs} ms; it printed: ${JSON.stringify(check.text.slice(-300))}`,
        },
        outcome,
      );
    }
    run.reporter.log(
      'info',
      'boot-check',
      `the app printed /${bootCheck.pattern}/ after ${check.elapsedMs} ms`,
    );
  }

  private succeeded(run: RunContext, done: FlashResult, outcome: RunResultPayload): RunResultPayload {
    run.timings.totalMs = Date.now() - run.started;
    run.reporter.log(
      'info',
      'result',
      `succeeded: ${done.bytesWritten} bytes written, ${done.bytesSkipped} skipped, at ${done.baud} baud in ${run.timings.totalMs} ms`,
    );
    return outcome;
  }

  private failed(run: RunContext, { failure: f, extra }: RunFailure): RunResultPayload {
    run.timings.totalMs = Date.now() - run.started;
    run.reporter.log(f.status === 'cancelled' ? 'warn' : 'error', 'result', `${f.code}: ${f.message}`);
    return {
      retries: 0,
      bytesWritten: 0,
      bytesSkipped: 0,
      regions: [],
      ...extra,
      timings: run.timings,
      status: f.status ?? 'failed',
      errorCode: f.code,
      errorMessage: f.message,
      ...(f.requeue ? { requeue: true } : {}),
    };
  }
}

/** Every region of the run, firmware parts and per-unit regions, in flash order (the flasher's order). */
function sortedParts(
  payload: FlashRunPayload,
): Array<{ offset: number; size: number; sha256: string; md5: string; role: string }> {
  return [...payload.firmware.parts, ...(payload.unitRegions ?? [])].sort((a, b) => a.offset - b.offset);
}

/** The job's flash options as the flasher takes them. */
function flashOptions(payload: FlashRunPayload) {
  const o = payload.options;
  return {
    // The board the run is bound to: a unit swapped in under the same port stops the session before
    // anything is written (DEVICE_CHANGED), whatever the job's target.
    expectMac: payload.mac,
    expectChip: payload.firmware.chip,
    verify: o.verify,
    skipUnchanged: o.skipUnchanged,
    eraseAll: o.eraseAll,
    flashMode: o.flashMode,
    flashFreq: o.flashFreq,
    flashSize: o.flashSize,
    // The boot check resets the board itself, at the app's baud.
    after: o.bootCheck ? ('no-reset' as const) : ('hard-reset' as const),
  };
}

/** Stages the flasher reports by log lines only. */
const STAGES_WITHOUT_PROGRESS = new Set<string>(['erase', 'boot-check']);

/** Flasher events as run events: log lines as they are, write progress over the whole image. */
function progressRelay(run: RunContext): (e: FlasherEvent) => void {
  const parts = sortedParts(run.payload);
  const totalBytes = parts.reduce((n, p) => n + p.size, 0);
  const before = parts.map((_, i) => parts.slice(0, i).reduce((n, p) => n + p.size, 0));
  // Stages without byte counts (a chip erase, the boot check) only log; their first line tells the
  // dashboard which stage the board is in, at the progress reached so far.
  let last = { stage: '', percent: 0, bytesDone: 0, bytesTotal: totalBytes };
  return (e) => {
    if (e.type === 'log') {
      run.reporter.log(e.level, e.stage, e.text);
      if (e.stage !== last.stage && STAGES_WITHOUT_PROGRESS.has(e.stage)) {
        last = { ...last, stage: e.stage };
        run.reporter.progress(last);
      }
      return;
    }
    const overall =
      e.region !== undefined && e.stage === 'write' && e.bytesTotal > 0
        ? before[e.region] + (e.bytesDone * (parts[e.region]?.size ?? 0)) / e.bytesTotal
        : undefined;
    last = {
      stage: e.stage,
      percent: overall === undefined ? e.percent : Math.min(100, Math.floor((overall * 100) / totalBytes)),
      bytesDone: overall === undefined ? e.bytesDone : Math.round(overall),
      bytesTotal: overall === undefined ? e.bytesTotal : totalBytes,
    };
    run.reporter.progress({ ...last, baud: e.baud, etaMs: e.etaMs });
  };
}

function abortFailure(signal: AbortSignal): Failure | undefined {
  if (!signal.aborted) return undefined;
  const reason: unknown = signal.reason;
  if (reason instanceof RunAbort && reason.kind === 'shutdown') {
    return { code: 'CANCELLED', message: `${reason.message}; the run is handed back`, requeue: true };
  }
  return {
    code: 'CANCELLED',
    message: reason instanceof Error ? reason.message : 'cancelled',
    status: 'cancelled',
  };
}
