/**
 * Intel HEX, as esptool reads and writes it (through the Python intelhex
 * package): records of at most 16 data bytes that never cross a 64 KiB
 * boundary or a gap, an extended linear address record (type 04) before each
 * 64 KiB window when any address is above 0xFFFF, uppercase hex, one record
 * per line, and the end-of-file record. Pure: text in, bytes out.
 */
import { ImageError } from './problems.js';

/** Bytes at an address: one contiguous run of an Intel HEX file. */
export interface HexRegion {
  address: number;
  data: Uint8Array;
}

/** Data bytes per record (intelhex's default `byte_count`). */
export const INTEL_HEX_BYTES_PER_RECORD = 16;

const RECORD = { DATA: 0, EOF: 1, EXT_SEGMENT: 2, START_SEGMENT: 3, EXT_LINEAR: 4, START_LINEAR: 5 } as const;

function record(type: number, offset: number, data: ArrayLike<number>): string {
  const bytes = [data.length, (offset >> 8) & 0xff, offset & 0xff, type, ...Array.from(data)];
  const sum = bytes.reduce((s, b) => s + b, 0);
  bytes.push(-sum & 0xff);
  return `:${bytes
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase()}`;
}

/**
 * Encodes regions as Intel HEX text. Later regions overwrite earlier ones
 * where they overlap (intelhex's merge refuses overlaps; callers check first).
 */
export function encodeIntelHex(regions: readonly HexRegion[], eol = '\n'): string {
  // Runs of present addresses, sorted; touching regions join into one run.
  const runs = [...regions]
    .filter((r) => r.data.length > 0)
    .sort((a, b) => a.address - b.address)
    .reduce<HexRegion[]>((out, r) => {
      const last = out[out.length - 1];
      if (last && last.address + last.data.length >= r.address) {
        const end = Math.max(last.address + last.data.length, r.address + r.data.length);
        const merged = new Uint8Array(end - last.address);
        merged.set(last.data);
        merged.set(r.data, r.address - last.address);
        out[out.length - 1] = { address: last.address, data: merged };
      } else {
        out.push({ address: r.address, data: r.data });
      }
      return out;
    }, []);
  const lines: string[] = [];
  if (runs.length > 0) {
    const last = runs[runs.length - 1];
    const needLinear = last.address + last.data.length - 1 > 0xffff;
    let window = -1;
    for (const run of runs) {
      let pos = 0;
      while (pos < run.data.length) {
        const address = run.address + pos;
        const high = Math.floor(address / 0x10000);
        if (needLinear && high !== window) {
          lines.push(record(RECORD.EXT_LINEAR, 0, [(high >> 8) & 0xff, high & 0xff]));
          window = high;
        }
        const low = address & 0xffff;
        const n = Math.min(INTEL_HEX_BYTES_PER_RECORD, 0x10000 - low, run.data.length - pos);
        lines.push(record(RECORD.DATA, low, run.data.subarray(pos, pos + n)));
        pos += n;
      }
    }
  }
  lines.push(':00000001FF');
  return lines.join(eol) + eol;
}

/** True when the bytes look like Intel HEX (esptool's test: the first byte is ':'). */
export function looksLikeIntelHex(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === 0x3a;
}

/**
 * Decodes Intel HEX into contiguous regions sorted by address (esptool splits
 * a HEX input into one binary per gap-free run). Throws ImageError
 * (BAD_INTEL_HEX) naming the line of a malformed record.
 */
export function decodeIntelHex(text: string, name = 'HEX file'): HexRegion[] {
  const bytes = new Map<number, number>();
  let base = 0;
  const lines = text.split(/\r?\n/);
  let ended = false;
  for (let i = 0; i < lines.length && !ended; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${name} line ${i + 1}`;
    if (!/^:([0-9a-fA-F]{2})+$/.test(line) || line.length < 11)
      throw new ImageError('BAD_INTEL_HEX', `${where} is not an Intel HEX record.`);
    const rec = Uint8Array.from(line.slice(1).match(/../g)!, (h) => parseInt(h, 16));
    const count = rec[0];
    if (rec.length !== count + 5)
      throw new ImageError('BAD_INTEL_HEX', `${where}: the record length does not match its byte count.`);
    if (rec.reduce((s, b) => s + b, 0) % 256 !== 0)
      throw new ImageError('BAD_INTEL_HEX', `${where}: bad record checksum.`);
    const offset = (rec[1] << 8) | rec[2];
    const data = rec.subarray(4, 4 + count);
    switch (rec[3]) {
      case RECORD.DATA:
        for (let j = 0; j < count; j++) bytes.set(base + offset + j, data[j]);
        break;
      case RECORD.EOF:
        ended = true;
        break;
      case RECORD.EXT_SEGMENT:
        base = ((data[0] << 8) | data[1]) * 16;
        break;
      case RECORD.EXT_LINEAR:
        base = ((data[0] << 8) | data[1]) * 0x10000;
        break;
      case RECORD.START_SEGMENT:
      case RECORD.START_LINEAR:
        break;
      default:
        throw new ImageError('BAD_INTEL_HEX', `${where}: unknown record type ${rec[3]}.`);
    }
  }
  const addresses = [...bytes.keys()].sort((a, b) => a - b);
  const regions: HexRegion[] = [];
  let start = 0;
  for (let i = 1; i <= addresses.length; i++) {
    if (i === addresses.length || addresses[i] !== addresses[i - 1] + 1) {
      const first = addresses[start];
      const data = Uint8Array.from(addresses.slice(start, i), (a) => bytes.get(a)!);
      if (data.length) regions.push({ address: first, data });
      start = i;
    }
  }
  return regions;
}
