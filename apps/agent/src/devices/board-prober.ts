/**
 * Probing: enter the ROM bootloader without writing anything, read the
 * board's silicon identity (MAC, chip, revision, features, crystal, flash ID
 * and size), then reset it back into its app.
 */
import type { DeviceIdentity } from '#contracts';
import { chipInfo, ROM_BAUD } from '#esp';
import { hostTransports, type TransportFactory } from '../ports/transport-factory.js';

/** Reset+sync rounds of a probe: fewer than a flash, so an empty port is given up quickly. */
const PROBE_CONNECT_ATTEMPTS = 4;

/**
 * The flasher reads RDID as a little-endian register (manufacturer in the low
 * byte); records and datasheets write JEDEC IDs in wire order (0xC84016 =
 * GigaDevice, type 0x40, 4 MiB), which is what we report.
 */
export function jedecWireOrder(registerValue: number | undefined): number | undefined {
  if (registerValue === undefined) return undefined;
  return ((registerValue & 0xff) << 16) | (registerValue & 0xff00) | ((registerValue >>> 16) & 0xff);
}

/** What a probe found. */
export interface ProbeResult {
  identity: DeviceIdentity;
  resetStrategy: string;
}

/** Identifies the board on a port; throws the flasher's typed error when nothing answers. */
export async function probeBoard(
  portPath: string,
  options: { resetStrategy?: string; signal?: AbortSignal; transportFor?: TransportFactory } = {},
): Promise<ProbeResult> {
  const transport = (options.transportFor ?? hostTransports)(portPath);
  try {
    // ROM loader only: reading identity needs no stub, and nothing is written to RAM or flash.
    const info = await chipInfo(transport, {
      noStub: true,
      baud: ROM_BAUD,
      resetStrategy: options.resetStrategy,
      connectAttempts: PROBE_CONNECT_ATTEMPTS,
      signal: options.signal,
      after: 'hard-reset',
    });
    return {
      identity: {
        mac: info.mac.toLowerCase(),
        chip: info.chip,
        chipRevision: info.revision.major * 100 + info.revision.minor,
        chipDescription: info.description,
        features: info.features,
        crystalMhz: info.crystalMhz,
        flashJedecId: jedecWireOrder(info.flashId),
        flashSizeBytes: info.flashSizeBytes,
      },
      resetStrategy: info.resetStrategy,
    };
  } finally {
    await transport.close().catch(() => undefined);
  }
}
