export { TransportError, isTransportError, type TransportErrorOptions } from './transport-error.js';
export { ReceiveBuffer } from './receive-buffer.js';
export { SimTransport, simPortName, type SimPortSource } from './sim-transport.js';
export {
  SerialPortTransport,
  classifyOpenError,
  type ModemControlSupport,
  type SerialPortTransportOptions,
} from './serial-port-transport.js';
export {
  Rfc2217Transport,
  parseRfc2217Url,
  ComPortCommand,
  ComPortControl,
  ComPortPurge,
  SERVER_REPLY_OFFSET,
  RFC2217_CONNECT_TIMEOUT_MS,
  RFC2217_NETWORK_TIMEOUT_MS,
  type Rfc2217TransportOptions,
} from './rfc2217-transport.js';
export {
  SocketTransport,
  parseSocketUrl,
  SOCKET_CONNECT_TIMEOUT_MS,
  type SocketTransportOptions,
} from './socket-transport.js';
export { escapeIac, Telnet, TelnetOption, TelnetParser } from './telnet.js';
export {
  listSerialPorts,
  type ListSerialPortsOptions,
  type SerialPortInfo,
  type SerialPortListing,
} from './list-serial-ports.js';
export {
  openTransport,
  createTransport,
  transportKind,
  type OpenTransportOptions,
  type TransportKind,
} from './open-transport.js';
export {
  decodeModemState,
  hasModemLines,
  ModemStateBit,
  MODEM_INPUT_MASK,
  type ModemInput,
  type ModemLines,
  type ModemLineSource,
} from './modem-lines.js';
export { ModemWatch, type ModemWatchOptions } from './modem-watch.js';
