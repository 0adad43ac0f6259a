import { FlashErrorCode } from '#contracts';
import type { Transport } from '#esp';
import { Rfc2217Transport, parseRfc2217Url } from './rfc2217-transport.js';
import { SerialPortTransport } from './serial-port-transport.js';
import { parseSocketUrl, SocketTransport } from './socket-transport.js';
import { TransportError } from './transport-error.js';

/** Options of openTransport. */
export interface OpenTransportOptions {
  baudRate: number;
  /** Resolves `sim://<board>` URLs to a transport (the owner of the simulated boards provides it). */
  resolveSim?: (url: string) => Transport | undefined;
  /** Passed to the serial transport (warnings about modem control). */
  onWarning?: (message: string) => void;
}

/** Which implementation a port URL selects. */
export type TransportKind = 'serial' | 'rfc2217' | 'socket' | 'sim';

/** Classifies a port URL: rfc2217://host:port, socket://host:port, sim://name, or an OS path (/dev/..., COM3). */
export function transportKind(url: string): TransportKind {
  if (/^rfc2217:\/\//i.test(url)) return 'rfc2217';
  if (/^socket:\/\//i.test(url)) return 'socket';
  if (/^sim:\/\//i.test(url)) return 'sim';
  if (url.startsWith('/') || /^COM\d+$/i.test(url) || /^\\\\\.\\COM\d+$/i.test(url)) return 'serial';
  throw new TransportError(
    FlashErrorCode.INVALID_ARGUMENT,
    `"${url}" is not a port: use a device path (/dev/ttyUSB0, /dev/serial/by-id/..., COM3), rfc2217://host:port, socket://host:port or sim://<board>`,
    { port: url },
  );
}

/** Creates the transport a port URL names, without opening it. */
export function createTransport(
  url: string,
  options: Omit<OpenTransportOptions, 'baudRate'> = {},
): Transport {
  switch (transportKind(url)) {
    case 'rfc2217':
      return new Rfc2217Transport(parseRfc2217Url(url));
    case 'socket':
      return new SocketTransport({ ...parseSocketUrl(url), onWarning: options.onWarning });
    case 'serial':
      return new SerialPortTransport(
        options.onWarning ? { path: url, onWarning: options.onWarning } : { path: url },
      );
    case 'sim': {
      const transport = options.resolveSim?.(url);
      if (!transport) {
        throw new TransportError(
          FlashErrorCode.PORT_NOT_FOUND,
          `${url}: no simulated board of that name here (is the simulator running in this process?)`,
          { port: url },
        );
      }
      return transport;
    }
  }
}

/** Creates and opens the transport a port URL names; the port is released again if opening fails. */
export async function openTransport(url: string, options: OpenTransportOptions): Promise<Transport> {
  const transport = createTransport(url, options);
  try {
    await transport.open(options.baudRate);
  } catch (err) {
    await transport.close();
    throw err;
  }
  return transport;
}
