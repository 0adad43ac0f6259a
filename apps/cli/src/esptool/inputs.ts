/**
 * `<address> <file>` pairs as esptool reads them, before any port is opened:
 * addresses in any base, files read whole, Intel HEX files split into their
 * gap-free runs (each at its own address), and two parts in one 4 KiB
 * sector refused.
 */
import {
  checkPartsOverlap,
  decodeIntelHex,
  EspError,
  type HexRegion,
  ImageError,
  looksLikeIntelHex,
} from '#esp';
import { parseInteger, usageError } from './args.js';
import { type EsptoolContext, fileName, readInput } from './context.js';

/** One part to write, verify or merge. */
export interface InputPart {
  offset: number;
  data: Uint8Array;
  /** The file name as typed (with "@0x…" for a run of a HEX file). */
  name: string;
}

function hexRegions(data: Uint8Array, path: string): HexRegion[] | undefined {
  if (!looksLikeIntelHex(data)) return undefined;
  try {
    return decodeIntelHex(new TextDecoder('latin1').decode(data), fileName(path));
  } catch {
    // esptool: a file that starts like HEX but is not is used as it is.
    return undefined;
  }
}

/** Reads `<address> <file> …`; throws usage errors naming the bad address, file or overlap. */
export async function readAddressFilePairs(
  ctx: EsptoolContext,
  args: readonly string[],
  command: string,
): Promise<InputPart[]> {
  if (args.length === 0 || args.length % 2 !== 0)
    throw usageError(
      `${command} needs pairs of an address and the binary filename to write there, e.g. ${command} 0x1000 bootloader.bin 0x10000 app.bin.`,
    );
  const parts: InputPart[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const address = parseInteger(args[i], 'Address');
    if (address < 0) throw usageError(`Address "${args[i]}" must not be negative.`);
    const path = args[i + 1];
    const data = await readInput(ctx, path);
    const runs = hexRegions(data, path);
    if (runs) {
      for (const r of runs)
        parts.push({ offset: r.address, data: r.data, name: `${path}@0x${r.address.toString(16)}` });
    } else parts.push({ offset: address, data, name: path });
  }
  try {
    checkPartsOverlap(parts);
  } catch (err) {
    if (err instanceof ImageError) throw usageError(err.message);
    throw err;
  }
  return parts.sort((a, b) => a.offset - b.offset);
}

/** Refuses a part that cannot start where it is asked to (flash writes start on 4-byte boundaries). */
export function checkWordAligned(parts: readonly InputPart[]): void {
  for (const p of parts) {
    if (p.offset % 4 !== 0)
      throw new EspError(
        `Address 0x${p.offset.toString(16)} of '${p.name}' is not a multiple of 4: flash writes start on a 4-byte boundary. Use an aligned address (parts normally start on a 4 KiB sector, e.g. 0x10000).`,
        { code: 'INVALID_ARGUMENT', stage: 'image' },
      );
  }
}
