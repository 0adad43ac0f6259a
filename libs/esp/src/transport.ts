/**
 * The one seam between the flasher and the wire. node-serialport, RFC 2217
 * and the in-process simulator implement it (in libs/serial); nothing above
 * it knows which one it talks to.
 */

/** Modem-control lines. true = asserted, which drives the physical line LOW (pyserial convention). */
export interface LineSignals {
  dtr?: boolean;
  rts?: boolean;
}

/** A byte pipe to one board, with the controls the bootloader protocol needs. */
export interface Transport {
  /** The port as a person would name it: "/dev/ttyUSB0", "rfc2217://10.0.0.5:4000", "sim://esp32-1". */
  readonly name: string;
  readonly isOpen: boolean;
  /** Current host-side baud. */
  readonly baudRate: number;
  /**
   * Measured round-trip latency of the link in milliseconds (0 for a local
   * port). Protocol timeouts add a multiple of it, so slow links are not
   * mistaken for dead boards.
   */
  readonly latencyMs: number;
  /** True when DTR and RTS can change in one update (TIOCMSET); false when each line is a separate step. */
  readonly atomicSignals: boolean;

  /** Opens the port. Rejects with PORT_BUSY or PORT_NOT_FOUND. */
  open(baudRate: number): Promise<void>;
  /** Releases the port. Idempotent; never throws for an already closed port. */
  close(): Promise<void>;
  /** Sends bytes; resolves once they are handed to the OS or the link. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Resolves with the bytes received so far (at least one, at most maxBytes),
   * waiting up to timeoutMs for the first; rejects with TIMEOUT when none
   * came, and with DEVICE_GONE when the port went away.
   */
  read(timeoutMs: number, maxBytes?: number): Promise<Uint8Array>;
  /** Discards everything received and not yet read. */
  flushInput(): Promise<void>;
  /** Sets DTR and/or RTS (atomically when atomicSignals is true). */
  setSignals(signals: LineSignals): Promise<void>;
  /** Changes the host-side baud. */
  setBaudRate(baudRate: number): Promise<void>;
  /** Registers a listener called once if the port goes away while open (unplug, TCP reset). */
  onDisconnect(listener: (reason: Error) => void): () => void;
}
