/**
 * The part of an ELF32 little-endian file elf2image needs: entry point,
 * sections with data (PROGBITS and the init/fini arrays) at a non-zero
 * address, and LOAD program headers. Read as esptool reads it (section
 * address = sh_addr, segment address = p_paddr with p_filesz bytes). Pure.
 */
import { sha256 } from './digest.js';
import { hex, ImageError } from './problems.js';

/** ELF machine numbers elf2image accepts. */
export const ELF_MACHINE = { XTENSA: 0x5e, RISCV: 0xf3 } as const;

/** A section or program segment with bytes to load. */
export interface ElfChunk {
  /** Section name, or "PHDR" for a program segment. */
  name: string;
  address: number;
  data: Uint8Array;
  /** sh_addralign / p_align. */
  align: number;
}

/** A parsed ELF file. */
export interface ElfFile {
  machine: number;
  entry: number;
  /** Loadable sections in section-header order. */
  sections: ElfChunk[];
  /** NOBITS sections (.bss and friends): names and addresses only. */
  nobitsSections: Array<{ name: string; address: number }>;
  /** LOAD program segments in program-header order. */
  segments: ElfChunk[];
  /** SHA-256 of the whole file (what ESP-IDF's app descriptor carries). */
  sha256: Uint8Array;
}

const SECTION_HEADER_BYTES = 0x28;
const PROGRAM_HEADER_BYTES = 0x20;
const SHT = {
  PROGBITS: 1,
  STRTAB: 3,
  NOBITS: 8,
  INIT_ARRAY: 0x0e,
  FINI_ARRAY: 0x0f,
  PREINIT_ARRAY: 0x10,
} as const;
const PROG_TYPES: readonly number[] = [SHT.PROGBITS, SHT.INIT_ARRAY, SHT.FINI_ARRAY, SHT.PREINIT_ARRAY];
const PT_LOAD = 1;

/** Parses an ELF file; throws ImageError (BAD_ELF) saying what is wrong. `warnings` collects esptool's warnings. */
export function parseElf(data: Uint8Array, name = 'ELF file', warnings: string[] = []): ElfFile {
  const fail = (message: string): never => {
    throw new ImageError('BAD_ELF', `'${name}' ${message}`);
  };
  if (data.length < 0x34) fail('does not have a valid ELF header (it is shorter than 52 bytes).');
  if (data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46)
    fail('has invalid ELF magic header.');
  if (data[4] !== 1 || data[5] !== 1) fail('is not a 32-bit little-endian ELF file.');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const machine = u16(18);
  if (machine !== ELF_MACHINE.XTENSA && machine !== ELF_MACHINE.RISCV)
    fail(`does not appear to be an Xtensa or an RISCV ELF image. (e_machine = ${hex(machine, 4)})`);
  const entry = u32(24);
  const phoff = u32(28);
  const shoff = u32(32);
  const phnum = u16(44);
  const shentsize = u16(46);
  const shnum = u16(48);
  const shstrndx = u16(50);
  if (shentsize !== SECTION_HEADER_BYTES)
    fail(`has unexpected section header entry size ${hex(shentsize)} (not ${hex(SECTION_HEADER_BYTES)}).`);
  if (shnum === 0) fail('has 0 section headers.');
  if (shoff + shnum * SECTION_HEADER_BYTES > data.length)
    fail(`is truncated: its section headers end past the file (offset ${hex(shoff)}).`);
  if (shstrndx >= shnum) fail(`has no STRTAB section at shstrndx ${shstrndx}.`);
  const bytesAt = (offset: number, size: number, what: string): Uint8Array => {
    if (offset + size > data.length) fail(`is truncated: ${what} ends past the file.`);
    return data.subarray(offset, offset + size);
  };
  const header = (i: number) => {
    const at = shoff + i * SECTION_HEADER_BYTES;
    return {
      nameOffset: u32(at),
      type: u32(at + 4),
      address: u32(at + 12),
      offset: u32(at + 16),
      size: u32(at + 20),
      align: u32(at + 32),
    };
  };
  const strtab = header(shstrndx);
  if (strtab.type !== SHT.STRTAB)
    warnings.push(`ELF file has incorrect STRTAB section type ${hex(strtab.type, 2)}`);
  const strings = bytesAt(strtab.offset, strtab.size, 'the section name table');
  const nameAt = (offset: number): string => {
    const end = strings.indexOf(0, offset);
    return new TextDecoder().decode(strings.subarray(offset, end < 0 ? strings.length : end));
  };
  const sections: ElfChunk[] = [];
  const nobitsSections: ElfFile['nobitsSections'] = [];
  for (let i = 0; i < shnum; i++) {
    const s = header(i);
    if (s.address === 0 || s.size === 0) continue;
    if (PROG_TYPES.includes(s.type)) {
      sections.push({
        name: nameAt(s.nameOffset),
        address: s.address,
        data: bytesAt(s.offset, s.size, `section ${nameAt(s.nameOffset)}`),
        align: s.align,
      });
    } else if (s.type === SHT.NOBITS) {
      nobitsSections.push({ name: nameAt(s.nameOffset), address: s.address });
    } else if (s.type !== SHT.STRTAB) {
      warnings.push(`Unknown section type ${hex(s.type, 2)} in ELF file`);
    }
  }
  const segments: ElfChunk[] = [];
  if (phnum > 0) {
    if (phoff + phnum * PROGRAM_HEADER_BYTES > data.length)
      fail(`is truncated: its program headers end past the file (offset ${hex(phoff)}).`);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * PROGRAM_HEADER_BYTES;
      const type = u32(at);
      const offset = u32(at + 4);
      const paddr = u32(at + 12);
      const filesz = u32(at + 16);
      const align = u32(at + 28);
      if (type !== PT_LOAD || paddr === 0 || filesz === 0) continue;
      segments.push({
        name: 'PHDR',
        address: paddr,
        data: bytesAt(offset, filesz, `program segment ${i}`),
        align,
      });
    }
  }
  return { machine, entry, sections, nobitsSections, segments, sha256: sha256(data) };
}
