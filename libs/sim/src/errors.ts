/** Stable codes of the errors the simulator throws at its API (never on the wire). */
export const SimErrorCode = {
  /** openPort() while another handle holds the board's port. */
  PORT_BUSY: 'SIM_PORT_BUSY',
  /** openPort() or a port operation while the board is unplugged. */
  UNPLUGGED: 'SIM_UNPLUGGED',
  /** An operation on a port handle that was closed. */
  PORT_CLOSED: 'SIM_PORT_CLOSED',
  /** A constructor or API argument is out of range or unknown. */
  INVALID_ARGUMENT: 'SIM_INVALID_ARGUMENT',
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

/** Base error of the simulator's API, with a stable code. */
export class SimError extends Error {
  constructor(
    readonly code: SimErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SimError';
  }
}

/** Thrown by openPort() when the port is already open. */
export class SimPortBusyError extends SimError {
  constructor(boardName: string) {
    super(SimErrorCode.PORT_BUSY, `sim://${boardName} is already open`);
    this.name = 'SimPortBusyError';
  }
}

/** Thrown when the board is unplugged; also the reason given to onDisconnect listeners. */
export class SimUnpluggedError extends SimError {
  constructor(boardName: string) {
    super(SimErrorCode.UNPLUGGED, `sim://${boardName} was unplugged`);
    this.name = 'SimUnpluggedError';
  }
}
