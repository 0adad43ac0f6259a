/**
 * The "lid closed" trigger of fixture slots: a jig wires a switch to a modem input (CTS, DSR or CD)
 * of the port's bridge, and closing the lid starts a cycle. Between cycles the watch holds the port
 * preemptibly with an open RFC 2217 connection and listens to NOTIFY-MODEMSTATE; a probe or a run
 * takes the port from it (the server serves one client at a time) and it comes back after them.
 */
import type { Transport } from '#esp';
import { hasModemLines, MODEM_INPUT_MASK, type ModemLineSource, ModemWatch } from '#serial';
import type { LidWiring } from '../config/agent-config.js';
import type { PortLease, PortRegistry } from '../ports/port-registry.js';
import { type DeviceInventory, LID_WATCH_OWNER } from './device-inventory.js';
import { pause } from '../lifecycle/pause.js';

/**
 * A level must hold this long to count. A lid's micro-switch bounces for a few milliseconds when it
 * closes, and an operator's hand can rock a lid; without it one closing could start two cycles
 * (two probes resetting one unit, a re-test record for nothing) and a bounce on opening would
 * drop a unit mid-cycle. 50 ms is well above contact bounce and below anything an operator notices.
 */
export const LID_DEBOUNCE_MS = 50;
/** After the port could not be opened (nothing listens, unit being swapped), try again this often. */
const LID_RETRY_MS = 500;
/** How long the port may take to report its lines after the connection is up. */
const LID_REPORT_TIMEOUT_MS = 3_000;
/** The baud of the watch connection; nothing is sent or read, but opening sets one. */
const WATCH_BAUD = 115_200;

/** Logs a line (level, text). */
export type LidLog = (level: 'debug' | 'info' | 'warn', text: string) => void;

/** Watches the lids of every lid slot of the agent. */
export class FixtureLidWatch {
  private readonly stop = new AbortController();
  private readonly loops: Array<Promise<void>> = [];

  constructor(
    private readonly lids: ReadonlyMap<string, LidWiring>,
    private readonly inventory: DeviceInventory,
    private readonly registry: PortRegistry,
    private readonly transportFor: (path: string) => Transport,
    private readonly log: LidLog,
  ) {}

  /** Starts one watch per lid slot. */
  start(): void {
    for (const [path, wiring] of this.lids) {
      this.log(
        'info',
        `${path}: fixture lid on ${wiring.line.toUpperCase()}${wiring.inverted ? ' (inverted)' : ''}; a cycle starts when it closes`,
      );
      this.loops.push(
        this.watch(path, wiring).catch((err: unknown) =>
          this.log('warn', `${path}: lid watch stopped: ${(err as Error).message}`),
        ),
      );
    }
  }

  /** Stops every watch and waits until each let go of its port. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.loops);
  }

  /**
   * One slot: hold the port, listen, and act on each debounced change. The last level is kept
   * across connections, so the port coming back after a run with the lid still closed is the
   * same unit, not a new cycle; only the very first level counts as a change (a unit already in
   * a closed fixture when the agent starts is taken).
   */
  private async watch(path: string, wiring: LidWiring): Promise<void> {
    const signal = this.stop.signal;
    let level: boolean | undefined;
    let warnedUnreachable = false;
    while (!signal.aborted) {
      let lease: PortLease;
      try {
        lease = await this.registry.acquire(path, LID_WATCH_OWNER, { preemptible: true, signal });
      } catch {
        return; // stopping
      }
      let closedNow = false;
      const transport = this.transportFor(path);
      try {
        await transport.open(WATCH_BAUD);
        if (!hasModemLines(transport))
          throw new Error('this transport does not report modem lines; use an rfc2217:// port');
        warnedUnreachable = false;
        // Only the lid's line (its state and delta bits) is worth a notification; a server that
        // refuses the mask still reports every line, which the watch filters anyway.
        await transport.setModemStateMask?.(MODEM_INPUT_MASK[wiring.line]).catch(() => undefined);
        if (!transport.modemLines) await transport.requestModemLines(LID_REPORT_TIMEOUT_MS);
        this.inventory.lidWatching(path, true);
        closedNow = await this.listen(path, transport, wiring, lease, level, (closed) => (level = closed));
      } catch (err) {
        if (!signal.aborted && !lease.preempted.aborted) {
          const why = (err as Error).message;
          if (!warnedUnreachable) this.log('info', `${path}: lid not readable (${why}); retrying`);
          warnedUnreachable = true;
          this.inventory.lidUnreachable(path, why);
        }
      } finally {
        this.inventory.lidWatching(path, false);
        await transport.close().catch(() => undefined);
        lease.release();
      }
      if (closedNow) {
        // The port is free again: the cycle probes it (and a run flashes it) while the watch waits.
        const outcome = await this.inventory.lidClosed(path);
        this.log('info', `${path}: lid closed: ${outcome}`);
      } else if (!signal.aborted && !lease.preempted.aborted) await pause(LID_RETRY_MS, signal);
    }
  }

  /**
   * Listens until the lid closes (true: the caller lets go of the port and starts a cycle), the
   * port is wanted by someone else, the connection drops, or the agent stops (false). An opening
   * is handled here: the unit is gone, and the watch goes on holding the port.
   */
  private listen(
    path: string,
    transport: Transport & ModemLineSource,
    wiring: LidWiring,
    lease: PortLease,
    before: boolean | undefined,
    remember: (closed: boolean) => void,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const watch = new ModemWatch(transport, {
        line: wiring.line,
        inverted: wiring.inverted,
        debounceMs: LID_DEBOUNCE_MS,
      });
      const cleanups: Array<() => void> = [() => watch.stop()];
      const finish = (closed: boolean): void => {
        for (const cleanup of cleanups.splice(0)) cleanup();
        resolve(closed);
      };
      const onLevel = (closed: boolean): void => {
        const changed = closed !== before;
        before = closed;
        remember(closed);
        if (closed) {
          if (changed) finish(true);
          else this.log('debug', `${path}: lid still closed; the unit stays`);
          return;
        }
        if (changed)
          void this.inventory
            .lidOpened(path)
            .catch((err: unknown) => this.log('warn', `${path}: lid opened: ${(err as Error).message}`));
        else this.log('debug', `${path}: lid open, waiting for it to close before taking a unit`);
      };
      cleanups.push(watch.onChange(onLevel));
      const onAbort = (): void => finish(false);
      for (const signal of [lease.preempted, this.stop.signal]) {
        if (signal.aborted) return finish(false);
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
      cleanups.push(transport.onDisconnect(() => finish(false)));
      if (watch.active !== undefined) onLevel(watch.active);
    });
  }
}
