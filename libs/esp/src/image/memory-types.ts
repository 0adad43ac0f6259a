/**
 * The memory-type table esptool v5 keeps per chip (its MEMORY_MAP): address
 * ranges, some overlapping (a DRAM address is also BYTE_ACCESSIBLE), in
 * esptool's order. `image-info` prints the names of every range a segment
 * starts in, and `elf2image` merges two sections only when their lists are
 * equal, so the order and the overlaps matter. Our chip targets keep a
 * simpler one-name-per-address map for the parser; this table exists to
 * reproduce esptool's output byte for byte.
 */
import type { ChipName } from '../targets/types.js';

/** [start, end) and a name. */
export type MemoryTypeRange = readonly [start: number, end: number, name: string];

/** esptool v5.3.1 MEMORY_MAP per chip, in its order. */
export const ESPTOOL_MEMORY_MAP: Readonly<Record<ChipName, readonly MemoryTypeRange[]>> = {
  esp8266: [
    [0x3ff00000, 0x3ff00010, 'DPORT'],
    [0x3ffe8000, 0x40000000, 'DRAM'],
    [0x40100000, 0x40108000, 'IRAM'],
    [0x40201010, 0x402e1010, 'IROM'],
  ],
  esp32: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x3f400000, 0x3f800000, 'DROM'],
    [0x3f800000, 0x3fc00000, 'EXTRAM_DATA'],
    [0x3ff80000, 0x3ff82000, 'RTC_DRAM'],
    [0x3ff90000, 0x40000000, 'BYTE_ACCESSIBLE'],
    [0x3ffae000, 0x40000000, 'DRAM'],
    [0x3ffe0000, 0x3ffffffc, 'DIRAM_DRAM'],
    [0x40000000, 0x40070000, 'IROM'],
    [0x40070000, 0x40078000, 'CACHE_PRO'],
    [0x40078000, 0x40080000, 'CACHE_APP'],
    [0x40080000, 0x400a0000, 'IRAM'],
    [0x400a0000, 0x400bfffc, 'DIRAM_IRAM'],
    [0x400c0000, 0x400c2000, 'RTC_IRAM'],
    [0x400d0000, 0x40400000, 'IROM'],
    [0x50000000, 0x50002000, 'RTC_DATA'],
  ],
  esp32s2: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x3f000000, 0x3ff80000, 'DROM'],
    [0x3f500000, 0x3ff80000, 'EXTRAM_DATA'],
    [0x3ff9e000, 0x3ffa0000, 'RTC_DRAM'],
    [0x3ff9e000, 0x40000000, 'BYTE_ACCESSIBLE'],
    [0x3ff9e000, 0x40072000, 'MEM_INTERNAL'],
    [0x3ffb0000, 0x40000000, 'DRAM'],
    [0x40000000, 0x4001a100, 'IROM_MASK'],
    [0x40020000, 0x40070000, 'IRAM'],
    [0x40070000, 0x40072000, 'RTC_IRAM'],
    [0x40080000, 0x40800000, 'IROM'],
    [0x50000000, 0x50002000, 'RTC_DATA'],
  ],
  esp32s3: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x3c000000, 0x3d000000, 'DROM'],
    [0x3d000000, 0x3e000000, 'EXTRAM_DATA'],
    [0x600fe000, 0x60100000, 'RTC_DRAM'],
    [0x3fc88000, 0x3fd00000, 'BYTE_ACCESSIBLE'],
    [0x3fc88000, 0x403e2000, 'MEM_INTERNAL'],
    [0x3fc88000, 0x3fd00000, 'DRAM'],
    [0x40000000, 0x4001a100, 'IROM_MASK'],
    [0x40370000, 0x403e0000, 'IRAM'],
    [0x600fe000, 0x60100000, 'RTC_IRAM'],
    [0x42000000, 0x42800000, 'IROM'],
    [0x50000000, 0x50002000, 'RTC_DATA'],
  ],
  esp32c2: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x3c000000, 0x3c400000, 'DROM'],
    [0x3fca0000, 0x3fce0000, 'DRAM'],
    [0x3fc88000, 0x3fd00000, 'BYTE_ACCESSIBLE'],
    [0x3ff00000, 0x3ff50000, 'DROM_MASK'],
    [0x40000000, 0x40090000, 'IROM_MASK'],
    [0x42000000, 0x42400000, 'IROM'],
    [0x4037c000, 0x403c0000, 'IRAM'],
  ],
  esp32c3: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x3c000000, 0x3c800000, 'DROM'],
    [0x3fc80000, 0x3fce0000, 'DRAM'],
    [0x3fc88000, 0x3fd00000, 'BYTE_ACCESSIBLE'],
    [0x3ff00000, 0x3ff20000, 'DROM_MASK'],
    [0x40000000, 0x40060000, 'IROM_MASK'],
    [0x42000000, 0x42800000, 'IROM'],
    [0x4037c000, 0x403e0000, 'IRAM'],
    [0x50000000, 0x50002000, 'RTC_IRAM'],
    [0x50000000, 0x50002000, 'RTC_DRAM'],
    [0x600fe000, 0x60100000, 'MEM_INTERNAL2'],
  ],
  esp32c6: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x42000000, 0x43000000, 'DROM'],
    [0x40800000, 0x40880000, 'DRAM'],
    [0x40800000, 0x40880000, 'BYTE_ACCESSIBLE'],
    [0x4004ac00, 0x40050000, 'DROM_MASK'],
    [0x40000000, 0x4004ac00, 'IROM_MASK'],
    [0x42000000, 0x43000000, 'IROM'],
    [0x40800000, 0x40880000, 'IRAM'],
    [0x50000000, 0x50004000, 'RTC_IRAM'],
    [0x50000000, 0x50004000, 'RTC_DRAM'],
    [0x600fe000, 0x60100000, 'MEM_INTERNAL2'],
  ],
  esp32h2: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x42000000, 0x43000000, 'DROM'],
    [0x40800000, 0x40880000, 'DRAM'],
    [0x40800000, 0x40880000, 'BYTE_ACCESSIBLE'],
    [0x4004ac00, 0x40050000, 'DROM_MASK'],
    [0x40000000, 0x4004ac00, 'IROM_MASK'],
    [0x42000000, 0x43000000, 'IROM'],
    [0x40800000, 0x40880000, 'IRAM'],
    [0x50000000, 0x50004000, 'RTC_IRAM'],
    [0x50000000, 0x50004000, 'RTC_DRAM'],
    [0x600fe000, 0x60100000, 'MEM_INTERNAL2'],
  ],
  esp32p4: [
    [0x00000000, 0x00010000, 'PADDING'],
    [0x40000000, 0x4c000000, 'DROM'],
    [0x4ff00000, 0x4ffa0000, 'DRAM'],
    [0x4ff00000, 0x4ffa0000, 'BYTE_ACCESSIBLE'],
    [0x4fc00000, 0x4fc20000, 'DROM_MASK'],
    [0x4fc00000, 0x4fc20000, 'IROM_MASK'],
    [0x40000000, 0x4c000000, 'IROM'],
    [0x4ff00000, 0x4ffa0000, 'IRAM'],
    [0x50108000, 0x50110000, 'RTC_IRAM'],
    [0x50108000, 0x50110000, 'RTC_DRAM'],
    [0x600fe000, 0x60100000, 'MEM_INTERNAL2'],
  ],
};

/** Names of every range `address` falls in, in esptool's order (empty when none). */
export function memoryTypesAt(chip: ChipName, address: number): string[] {
  return ESPTOOL_MEMORY_MAP[chip].filter(([s, e]) => s <= address && address < e).map(([, , n]) => n);
}
