import { createHash } from 'node:crypto';
import { type ChipName } from './chips/types.js';

/** A flasher stub the simulator recognises by the SHA-256 of its decoded `text` segment. */
export interface KnownStub {
  chip: ChipName;
  /** Where the package says it comes from. */
  origin: string;
  textSha256: string;
  textStart: number;
  entry: number;
}

/**
 * The esp-flasher-stub builds shipped in esptool-js 0.7.0
 * (lib/targets/stub_flasher/<chip>.json). A test checks this table against
 * the installed package, so an upgrade that changes the stubs fails loudly.
 */
export const KNOWN_STUBS: readonly KnownStub[] = [
  {
    chip: 'esp8266',
    origin: 'esptool-js 0.7.0',
    textSha256: '37c16091ff165ffe760353a8e92d07f55927e34d01fb5fc04c18b5525c13f8f6',
    textStart: 0x4010c500,
    entry: 0x4010c504,
  },
  {
    chip: 'esp32',
    origin: 'esptool-js 0.7.0',
    textSha256: 'fc5fb606754d152b9b9e4f20c72fdad83d1d99b1b139744bc53cc160b1edd570',
    textStart: 0x400a8000,
    entry: 0x400a902c,
  },
  {
    chip: 'esp32s2',
    origin: 'esptool-js 0.7.0',
    textSha256: '2f9d78912aabf158d013c6162becdd85967dd4794032012f3600228cddec5ef9',
    textStart: 0x40028000,
    entry: 0x400290a4,
  },
  {
    chip: 'esp32s3',
    origin: 'esptool-js 0.7.0',
    textSha256: 'c37a7d12d52633fd629fbed13f3a7418216af368d8e80f17853ce6de29741374',
    textStart: 0x40378000,
    entry: 0x40379524,
  },
  {
    chip: 'esp32c3',
    origin: 'esptool-js 0.7.0',
    textSha256: 'c06cc1a34a02d8f8755692cf89843b388978d19a255b0d9c26b10a0f41a90ffb',
    textStart: 0x40380000,
    entry: 0x40380e9a,
  },
  {
    chip: 'esp32c6',
    origin: 'esptool-js 0.7.0',
    textSha256: '904a314959d712695b699b08873a428c2080e0ce6dc17ebf7657449ea84383d4',
    textStart: 0x40800000,
    entry: 0x408011bc,
  },
];

/** A segment uploaded with MEM_BEGIN/MEM_DATA. */
export interface RamSegment {
  address: number;
  data: Uint8Array;
}

/**
 * Finds the stub that the uploaded RAM segments and the MEM_END entry point
 * amount to, for this chip; null when the code is not a known stub (then the
 * simulator cannot run it).
 */
export function recogniseStub(
  chip: ChipName,
  segments: readonly RamSegment[],
  entry: number,
): KnownStub | null {
  for (const segment of segments) {
    const digest = createHash('sha256').update(segment.data).digest('hex');
    const stub = KNOWN_STUBS.find(
      (s) => s.chip === chip && s.textSha256 === digest && s.textStart === segment.address,
    );
    if (stub && entry >= segment.address && entry < segment.address + segment.data.length) return stub;
  }
  return null;
}
