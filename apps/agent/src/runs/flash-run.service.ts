/**
 * One flash run on one board: firmware from the cache, the port from the
 * registry, the flasher with the learned baud and reset strategy, retries by
 * failure class, the boot check, and a result with everything measured.
 */
import { FlashErrorCode, type FlashRunPayload, type RegionResult, type RunResultPayload } from '#contracts';
import { DEFAULT_FLASH_BAUD, flash, type FlasherEvent, type FlashResult } from '#esp';
import { createTransport } from '#serial';
import type { AgentConfig } from '../config/agent-config.js';
import { jedecWireOrder } from '../devices/board-prober.js';
import type { DeviceInventory } from '../devices/device-inventory.js';
import { capBaud } from '../discovery/usb-bridges.js';
import type { FirmwareCache } from '../firmware/firmware-cache.js';
import type { PortRegistry } from '../ports/port-registry.js';
import { defaultConsoleBaud, runBootCheck } from './boot-check.js';
import { decideAfterFailure, errorCodeOf } from './fault-policy.js';
import type { LearnedSettings } from './learned-settings.js';
import type { RunReporter } from './run-reporter.js';

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
  config: AgentConfig;
  inventory: DeviceInventory;
  registry: PortRegistry;
  cache: FirmwareCache;
  learned: LearnedSettings;
}

interface Failure {
  code: FlashErrorCode;
  message: string;
  requeue?: boolean;
  status?: 'failed' | 'cancelled';
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
    const { config, registry, inventory } = this.deps;
    const started = Date.now();
    const timings: Record<string, number> = {};
    const base = { retries: 0, bytesWritten: 0, bytesSkipped: 0, regions: [] as RegionResult[], timings };
    const fail = (f: Failure, extra: Partial<RunResultPayload> = {}): RunResultPayload => {
      timings.totalMs = Date.now() - started;
      reporter.log(f.status === 'cancelled' ? 'warn' : 'error', 'result', `${f.code}: ${f.message}`);
      return {
        ...base,
        ...extra,
        status: f.status ?? 'failed',
        errorCode: f.code,
        errorMessage: f.message,
        ...(f.requeue ? { requeue: true } : {}),
      };
    };
    const aborted = (): Failure | undefined => abortFailure(signal);

    // A board is its MAC: if it moved to another port of this agent, the run follows it there.
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
    if (
      occupant?.state === 'present' &&
      occupant.identity &&
      occupant.identity.mac !== payload.mac.toLowerCase()
    ) {
      return fail({
        code: 'DEVICE_GONE',
        message: `${portPath} now holds board ${occupant.identity.mac}, not ${payload.mac}; handing the run back`,
        requeue: true,
      });
    }
    reporter.log(
      'info',
      'run',
      `run ${payload.runId} (attempt ${payload.attempt}) on ${portPath}: firmware ${payload.firmware.sha256.slice(0, 12)} for ${payload.firmware.chip}, ${payload.firmware.parts.length} part(s)`,
    );

    // Firmware first: a download problem must not hold the port.
    const fetchStart = Date.now();
    const parts = [...payload.firmware.parts].sort((a, b) => a.offset - b.offset);
    const images: Array<{ offset: number; data: Uint8Array; name: string }> = [];
    try {
      for (const part of parts) {
        const { data, cached } = await this.deps.cache.get(part, signal);
        images.push({ offset: part.offset, data, name: part.role });
        reporter.log(
          'info',
          'fetch',
          `${part.role} at 0x${part.offset.toString(16)} (${data.length} bytes) ${cached ? 'from the cache' : 'downloaded'}`,
        );
      }
    } catch (err) {
      return fail(
        aborted() ?? {
          code: 'INFRASTRUCTURE',
          message: `firmware fetch failed: ${(err as Error).message}`,
          requeue: true,
        },
      );
    }
    timings.fetchMs = Date.now() - fetchStart;

    const waitStart = Date.now();
    let lease;
    try {
      lease = await registry.acquire(portPath, `run:${payload.runId}`, { signal });
    } catch {
      return fail(aborted() ?? { code: 'INTERNAL', message: 'could not get the port' });
    }
    timings.waitPortMs = Date.now() - waitStart;
    try {
      const entry = inventory.entry(portPath);
      const bridge = entry?.bridge;
      const learnedPort = this.deps.learned.port(portPath);
      const baud = capBaud(
        Math.min(
          payload.options.baud ?? DEFAULT_FLASH_BAUD,
          payload.device.bestBaud ?? Infinity,
          this.deps.learned.bestBaud(portPath, bridge?.name) ?? Infinity,
        ),
        bridge,
      );
      let resetStrategy =
        payload.device.resetSequence ??
        entry?.device?.resetSequence ??
        learnedPort?.resetStrategy ??
        entry?.resetStrategy ??
        bridge?.resetStrategy;
      const totalBytes = parts.reduce((n, p) => n + p.size, 0);
      const before = parts.map((_, i) => parts.slice(0, i).reduce((n, p) => n + p.size, 0));
      const onEvent = (e: FlasherEvent): void => {
        if (e.type === 'log') {
          reporter.log(e.level, e.stage, e.text);
          return;
        }
        const overall =
          e.region !== undefined && e.stage === 'write' && e.bytesTotal > 0
            ? before[e.region] + (e.bytesDone * (parts[e.region]?.size ?? 0)) / e.bytesTotal
            : undefined;
        reporter.progress({
          stage: e.stage,
          percent:
            overall === undefined ? e.percent : Math.min(100, Math.floor((overall * 100) / totalBytes)),
          bytesDone: overall === undefined ? e.bytesDone : Math.round(overall),
          bytesTotal: overall === undefined ? e.bytesTotal : totalBytes,
          baud: e.baud,
          etaMs: e.etaMs,
        });
      };

      let result: FlashResult | undefined;
      let retries = 0;
      const retriesByCode = new Map<FlashErrorCode, number>();
      const flashStart = Date.now();
      const bootCheck = payload.options.bootCheck;
      let transport = createTransport(portPath);
      for (let attempt = 0; ; attempt++) {
        reporter.log(
          'info',
          'run',
          `flashing at ${baud} baud${resetStrategy ? `, reset ${resetStrategy}` : ''}`,
        );
        try {
          result = await flash(transport, images, {
            baud,
            resetStrategy,
            expectChip: payload.firmware.chip,
            verify: payload.options.verify,
            skipUnchanged: payload.options.skipUnchanged,
            eraseAll: payload.options.eraseAll,
            flashMode: payload.options.flashMode,
            flashFreq: payload.options.flashFreq,
            flashSize: payload.options.flashSize,
            after: bootCheck ? 'no-reset' : 'hard-reset',
            reopenWaitMs: config.reopenWaitMs,
            signal,
            onEvent,
          });
          break;
        } catch (err) {
          await transport.close().catch(() => undefined);
          const stop = aborted();
          if (stop) return fail(stop, { retries });
          const code = errorCodeOf(err);
          const message = (err as Error).message;
          const action = decideAfterFailure(code, {
            retries,
            retriesOfCode: retriesByCode.get(code) ?? 0,
            maxRetries: config.runRetries,
            resetStrategy,
          });
          if (action.kind === 'retry') {
            retries++;
            retriesByCode.set(code, (retriesByCode.get(code) ?? 0) + 1);
            reporter.log(
              'warn',
              'run',
              `${action.why} (attempt ${attempt + 2} of ${config.runRetries + 1}): ${message}`,
            );
            resetStrategy = action.resetStrategy;
            transport = createTransport(portPath);
            continue;
          }
          if (action.kind === 'requeue') {
            inventory.markGone(portPath, message);
            return fail({ code, message: `${message} — handing the run back`, requeue: true }, { retries });
          }
          return fail({ code, message }, { retries });
        }
      }
      timings.flashMs = Date.now() - flashStart;
      const done = result;
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
      const learned = { bestBaud: done.baud, resetStrategy: done.resetStrategy };
      this.deps.learned.recordSuccess(portPath, bridge?.name, {
        baud: done.baud,
        resetStrategy: done.resetStrategy,
      });
      if (entry) entry.resetStrategy = done.resetStrategy;
      const identity = {
        mac: done.chip.mac.toLowerCase(),
        chip: done.chip.chip,
        chipRevision: done.chip.revision.major * 100 + done.chip.revision.minor,
        flashJedecId: jedecWireOrder(done.chip.flashId),
        flashSizeBytes: done.chip.flashSizeBytes,
      };
      inventory.refreshIdentity(portPath, identity);
      const outcome = {
        ...base,
        retries: retries + done.retries,
        baud: done.baud,
        bytesWritten: done.bytesWritten,
        bytesSkipped: done.bytesSkipped,
        regions,
        learned,
        identity,
      };
      if (done.baudFallbacks.length > 0)
        reporter.log(
          'info',
          'baud',
          `learned: ${done.baud} baud works on ${portPath} (fell back from ${done.baudFallbacks.join(', ')})`,
        );

      if (bootCheck) {
        const checkStart = Date.now();
        const appBaud = bootCheck.baud ?? defaultConsoleBaud(done.chip.chip);
        reporter.log(
          'info',
          'boot-check',
          `waiting up to ${bootCheck.timeoutMs} ms for /${bootCheck.pattern}/ at ${appBaud} baud`,
        );
        try {
          const check = await runBootCheck(transport, {
            pattern: new RegExp(bootCheck.pattern),
            timeoutMs: bootCheck.timeoutMs,
            baud: appBaud,
            resetStrategy: done.resetStrategy,
            signal,
          });
          timings.bootCheckMs = Date.now() - checkStart;
          if (!check.matched) {
            return fail(
              {
                code: 'BOOT_CHECK_FAILED',
                message: `the app did not print /${bootCheck.pattern}/ within ${bootCheck.timeoutMs} ms; it printed: ${JSON.stringify(check.text.slice(-300))}`,
              },
              outcome,
            );
          }
          reporter.log(
            'info',
            'boot-check',
            `the app printed /${bootCheck.pattern}/ after ${check.elapsedMs} ms`,
          );
        } catch (err) {
          const stop = aborted();
          return fail(
            stop ?? { code: errorCodeOf(err), message: `boot check: ${(err as Error).message}` },
            outcome,
          );
        } finally {
          await transport.close().catch(() => undefined);
        }
      } else {
        await transport.close().catch(() => undefined);
      }
      timings.totalMs = Date.now() - started;
      reporter.log(
        'info',
        'result',
        `succeeded: ${done.bytesWritten} bytes written, ${done.bytesSkipped} skipped, at ${done.baud} baud in ${timings.totalMs} ms`,
      );
      return { ...outcome, status: 'succeeded' };
    } finally {
      lease.release();
    }
  }
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
