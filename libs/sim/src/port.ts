/** The modem-status inputs a host reads from a bridge (true = asserted). The board drives none of them; a fixture may wire a switch to one. */
export interface ModemInputs {
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  cd: boolean;
}

/**
 * The host side of a simulated board's UART: what a USB-serial bridge would
 * give a driver. The in-process transport (libs/serial) and the RFC 2217
 * server (libs/sim/src/rfc2217) are both built on this handle.
 */
export interface SimPortHandle {
  /** Bytes from the host towards the chip, sent at the host's current baud. */
  write(bytes: Uint8Array): void;
  /** Bytes from the chip towards the host, delivered as the UART would (10 bit-times per byte). */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Modem-control lines; true = asserted (line driven low). Only the given lines change; both given = one atomic update. */
  setSignals(signals: { dtr?: boolean; rts?: boolean }): void;
  /** The host side's baud. When it differs from the chip's, each side sees the other's bytes as garbage. */
  setBaudRate(baudRate: number): void;
  readonly baudRate: number;
  /** The modem-status inputs as they are now (a fixture's "lid closed" switch, where one is wired); absent where a handle carries none. */
  readonly modemInputs?: ModemInputs;
  /** Called with the new inputs whenever one of them changes while this handle is open; absent where a handle carries none. */
  onModemInputs?(listener: (inputs: ModemInputs) => void): () => void;
  /** Called once when the board goes away (simulated unplug) while this handle is open. */
  onDisconnect(listener: (reason: Error) => void): () => void;
  /** Releases the port; the board keeps running. */
  close(): void;
  readonly isOpen: boolean;
}
