/**
 * One owner per serial port. A probe, a flash run or the console asks the
 * registry for a port and gets it only when nobody else holds it. The console
 * holds ports "preemptibly": a run asking for the port makes it let go.
 */

/** What holding a port gives its owner. */
export interface PortLease {
  readonly port: string;
  readonly owner: string;
  /** Aborted when a more important user wants the port (preemptible leases only). */
  readonly preempted: AbortSignal;
  /** Hands the port back; idempotent. */
  release(): void;
}

/** Options of acquire(). */
export interface AcquireOptions {
  /** The holder gives way (its `preempted` signal fires) when a non-preemptible user asks. */
  preemptible?: boolean;
  signal?: AbortSignal;
}

interface Waiter {
  owner: string;
  preemptible: boolean;
  grant: (lease: PortLease) => void;
}

interface PortState {
  lease?: PortLease & { preemptible: boolean; controller: AbortController };
  waiters: Waiter[];
}

/** The agent's table of who holds which port. */
export class PortRegistry {
  private readonly ports = new Map<string, PortState>();
  private readonly releaseListeners = new Set<(port: string) => void>();

  /** Who holds the port, if anyone. */
  holder(port: string): string | undefined {
    return this.ports.get(port)?.lease?.owner;
  }

  /** Takes the port now, or returns undefined when someone holds it (nobody is preempted). */
  tryAcquire(port: string, owner: string, options: { preemptible?: boolean } = {}): PortLease | undefined {
    const state = this.state(port);
    if (state.lease || state.waiters.length > 0) return undefined;
    return this.grant(port, state, owner, options.preemptible ?? false);
  }

  /** Waits for the port (FIFO), preempting a preemptible holder when this user is not preemptible. */
  acquire(port: string, owner: string, options: AcquireOptions = {}): Promise<PortLease> {
    const state = this.state(port);
    const preemptible = options.preemptible ?? false;
    if (!state.lease && state.waiters.length === 0) {
      return Promise.resolve(this.grant(port, state, owner, preemptible));
    }
    return new Promise<PortLease>((resolve, reject) => {
      const waiter: Waiter = {
        owner,
        preemptible,
        grant: (lease) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
      };
      const onAbort = (): void => {
        state.waiters = state.waiters.filter((w) => w !== waiter);
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted'));
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // A run outranks the console: it queues ahead of preemptible waiters.
      const at = preemptible ? state.waiters.length : state.waiters.findIndex((w) => w.preemptible);
      state.waiters.splice(at < 0 ? state.waiters.length : at, 0, waiter);
      if (!preemptible && state.lease?.preemptible)
        state.lease.controller.abort(new Error(`${owner} needs the port`));
    });
  }

  /** Called with the port name whenever a port becomes free. */
  onReleased(listener: (port: string) => void): () => void {
    this.releaseListeners.add(listener);
    return () => this.releaseListeners.delete(listener);
  }

  private state(port: string): PortState {
    let state = this.ports.get(port);
    if (!state) {
      state = { waiters: [] };
      this.ports.set(port, state);
    }
    return state;
  }

  private grant(port: string, state: PortState, owner: string, preemptible: boolean): PortLease {
    const controller = new AbortController();
    let released = false;
    const lease = {
      port,
      owner,
      preemptible,
      controller,
      preempted: controller.signal,
      release: () => {
        if (released) return;
        released = true;
        if (state.lease === lease) state.lease = undefined;
        const next = state.waiters.shift();
        if (next) {
          next.grant(this.grant(port, state, next.owner, next.preemptible));
          return;
        }
        for (const listener of this.releaseListeners) listener(port);
      },
    };
    state.lease = lease;
    return lease;
  }
}
