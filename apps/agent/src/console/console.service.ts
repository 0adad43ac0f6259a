/**
 * Live console of a board between runs: reads its serial output at the app's
 * baud and streams it as console.data events, without resetting it. The port
 * is held preemptibly, so a run takes it over and the console resumes after.
 */
import { createTransport } from '#serial';
import type { AgentEventsPublisher } from '../events/agent-events.publisher.js';
import type { DeviceInventory } from '../devices/device-inventory.js';
import type { PortRegistry } from '../ports/port-registry.js';
import { defaultConsoleBaud } from '../runs/boot-check.js';
import { pause } from '../lifecycle/pause.js';

/** Console text is sent at most this often per board. */
const CONSOLE_FLUSH_MS = 100;
/** While the board is not on any port, look again this often. */
const CONSOLE_RETRY_MS = 1_000;

/** Streams consoles of the boards the api asked for. */
export class ConsoleService {
  private readonly sessions = new Map<string, AbortController>();

  constructor(
    private readonly inventory: DeviceInventory,
    private readonly registry: PortRegistry,
    private readonly publisher: AgentEventsPublisher,
    private readonly log: (text: string) => void,
  ) {}

  /** Devices whose console is on. */
  get active(): string[] {
    return [...this.sessions.keys()];
  }

  /** Switches a board's console on or off. */
  set(deviceId: string, enabled: boolean): void {
    const current = this.sessions.get(deviceId);
    if (!enabled) {
      current?.abort();
      this.sessions.delete(deviceId);
      return;
    }
    if (current) return;
    const stop = new AbortController();
    this.sessions.set(deviceId, stop);
    void this.loop(deviceId, stop.signal).catch((err: unknown) =>
      this.log(`console of ${deviceId} stopped: ${(err as Error).message}`),
    );
  }

  /** Stops every console. */
  stopAll(): void {
    for (const id of [...this.sessions.keys()]) this.set(id, false);
  }

  private async loop(deviceId: string, stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const entry = this.inventory.findDevice({ deviceId });
      if (!entry) {
        await pause(CONSOLE_RETRY_MS, stop);
        continue;
      }
      let lease;
      try {
        lease = await this.registry.acquire(entry.path, `console:${deviceId}`, {
          preemptible: true,
          signal: stop,
        });
      } catch {
        return;
      }
      try {
        await this.stream(
          deviceId,
          entry.path,
          entry.identity?.chip ?? 'esp32',
          AbortSignal.any([stop, lease.preempted]),
        );
      } catch (err) {
        if (!stop.aborted && !lease.preempted.aborted) {
          this.log(`console of ${deviceId} on ${entry.path}: ${(err as Error).message}`);
          await pause(CONSOLE_RETRY_MS, stop);
        }
      } finally {
        lease.release();
      }
    }
  }

  private async stream(deviceId: string, path: string, chip: string, signal: AbortSignal): Promise<void> {
    const transport = createTransport(path);
    // Opening sets only the baud: DTR/RTS are not touched, so the running app is not reset.
    await transport.open(defaultConsoleBaud(chip));
    const decoder = new TextDecoder('latin1');
    let buffered = '';
    let lastFlush = Date.now();
    const flush = async (): Promise<void> => {
      if (!buffered) return;
      const text = buffered;
      buffered = '';
      lastFlush = Date.now();
      await this.publisher.console(deviceId, text);
    };
    try {
      while (!signal.aborted) {
        try {
          buffered += decoder.decode(await transport.read(CONSOLE_FLUSH_MS, 4096), { stream: true });
        } catch (err) {
          if ((err as { code?: string }).code !== 'TIMEOUT') throw err;
        }
        if (Date.now() - lastFlush >= CONSOLE_FLUSH_MS) await flush();
      }
      await flush();
    } finally {
      await transport.close().catch(() => undefined);
    }
  }
}
