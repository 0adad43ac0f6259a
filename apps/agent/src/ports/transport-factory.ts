/**
 * Where the agent's transports come from. Production opens what the port URL
 * names (a serial device or RFC 2217); tests hand in simulated boards through
 * the same seam, so the run service is tested without its own stand-ins.
 */
import type { Transport } from '#esp';
import { createTransport } from '#serial';

/** Creates the (closed) transport of a port. */
export type TransportFactory = (portPath: string) => Transport;

/** The production factory: serial devices and rfc2217:// URLs. */
export const hostTransports: TransportFactory = (portPath) => createTransport(portPath);
