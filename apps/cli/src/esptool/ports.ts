/**
 * Which port a command talks to: `-p` when given; otherwise, as esptool does,
 * every USB serial port of the host (narrowed by `--port-filter`), Espressif's
 * own USB ports tried first, then USB bridges (ttyUSB/ttyACM), until one
 * connects. A port that fails while connecting (nothing answers, wrong chip,
 * busy) is reported and the next one tried; a failure after connecting ends
 * the command, so a half-done write never moves on to another board.
 */
import { basename } from 'node:path';
import { EspError, toEspError, type Transport } from '#esp';
import type { SerialPortInfo } from '#serial';
import type { EsptoolContext, GlobalOptions } from './context.js';

/** Espressif's USB vendor id (USB-Serial/JTAG and USB-OTG consoles). */
const ESPRESSIF_VID = 0x303a;
/** Stages at which a failure means "this port is not the board", not "the operation failed". */
const CONNECT_STAGES = new Set(['open', 'reset', 'sync', 'detect']);

/** The ports to try, in the order esptool tries them (filtered, best candidate first). */
export function candidatePorts(
  ports: readonly SerialPortInfo[],
  filter: GlobalOptions['portFilter'],
): string[] {
  const vid = (p: SerialPortInfo) => (p.vendorId ? parseInt(p.vendorId, 16) : undefined);
  const pid = (p: SerialPortInfo) => (p.productId ? parseInt(p.productId, 16) : undefined);
  const kept = ports.filter((p) => {
    if (filter.vids.length && !filter.vids.includes(vid(p) ?? -1)) return false;
    if (filter.pids.length && !filter.pids.includes(pid(p) ?? -1)) return false;
    if (filter.names.length && !filter.names.some((n) => basename(p.path).includes(n))) return false;
    if (filter.serials.length && !filter.serials.some((s) => (p.serialNumber ?? '').includes(s)))
      return false;
    return true;
  });
  const rank = (p: SerialPortInfo) => (vid(p) === ESPRESSIF_VID ? 3 : /ttyUSB|ttyACM/.test(p.path) ? 2 : 1);
  return kept
    .sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path))
    .reverse()
    .map((p) => p.path);
}

/** Opens a port at the ROM baud; the flasher raises it later. */
async function open(ctx: EsptoolContext, port: string): Promise<Transport> {
  return ctx.deps.openTransport(port, { baudRate: 115_200 });
}

/**
 * Runs `body` on the board: on the -p port, or on the first listed port that
 * connects. The transport is closed afterwards whatever happens.
 */
export async function withBoard<T>(
  ctx: EsptoolContext,
  body: (transport: Transport, port: string) => Promise<T>,
): Promise<T> {
  const given = ctx.globals.port;
  const ports = given
    ? [given]
    : candidatePorts((await ctx.deps.listPorts?.()) ?? [], ctx.globals.portFilter);
  if (ports.length === 0) {
    throw new EspError(
      'No serial port found to connect to. Give one with -p (a device path such as /dev/ttyUSB0, rfc2217://host:port or socket://host:port), or widen --port-filter.',
      { code: 'PORT_NOT_FOUND', stage: 'open' },
    );
  }
  if (!given) ctx.err.write(`Found ${ports.length} serial ports...\n`);
  let lastError: EspError | undefined;
  for (const port of ports) {
    if (!given) ctx.err.write(`Serial port ${port}:\n`);
    let transport: Transport | undefined;
    try {
      transport = await open(ctx, port);
      return await body(transport, port);
    } catch (caught) {
      const err = toEspError(caught);
      if (given || !CONNECT_STAGES.has(err.stage ?? 'open') || err.code === 'CANCELLED') throw err;
      ctx.err.write(`${port} failed to connect: ${err.message}\n`);
      lastError = err;
    } finally {
      await transport?.close().catch(() => undefined);
    }
  }
  throw new EspError(
    `Could not connect to an Espressif device on any of the ${ports.length} available serial ports. Check the cables and boot mode, or name the port with -p.`,
    { code: lastError?.code ?? 'NO_SYNC', stage: 'open', cause: lastError },
  );
}
