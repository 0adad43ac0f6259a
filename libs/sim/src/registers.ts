import { type ChipDefinition } from './chips/types.js';
import { type SimFlash } from './flash-memory.js';

/** Bit in the SPI CMD register that starts a user-defined command. */
const SPI_CMD_USR = 1 << 18;
const SPI_USR_ADDR = 1 << 30;
const SPI_USR_MISO = 1 << 28;

/** The SFDP table's first bytes: signature "SFDP", revision 1.6, one parameter header. */
const SFDP_TABLE = Uint8Array.of(
  0x53,
  0x46,
  0x44,
  0x50,
  0x06,
  0x01,
  0x00,
  0xff,
  0x00,
  0x06,
  0x01,
  0x10,
  0x30,
  0x00,
  0x00,
  0xff,
);

/** What the SPI flash part answers besides data: its JEDEC ID, and whether it answers at all. */
export interface SpiFlashPart {
  flash: SimFlash;
  /** Manufacturer, memory type, capacity, in wire order: 0xC84016 = C8 40 16. */
  jedecId: number;
  /** When true the part behaves as disconnected (RDID reads 0xFFFFFF). */
  dead?: boolean;
}

/**
 * The register space a host can reach with READ_REG/WRITE_REG: identity
 * eFuses, the UART divider, and the SPI controller's user-command registers,
 * which run a flash command when CMD bit 18 is written (§4.7). Unknown
 * addresses read as the last value written there, or 0.
 */
export class RegisterFile {
  private readonly words = new Map<number, number>();
  private readonly readOnly = new Map<number, number>();
  private readonly dynamic = new Map<number, () => number>();
  private readonly writeHooks = new Map<number, (value: number) => boolean>();
  private flashConnected: () => boolean = () => true;

  constructor(
    private readonly chip: ChipDefinition,
    private readonly part: SpiFlashPart,
  ) {}

  /** Installs read-only words (eFuses, ROM variables); writes to them are ignored, as on silicon. */
  setReadOnly(words: Map<number, number>): void {
    for (const [addr, value] of words) this.readOnly.set(addr >>> 0, value >>> 0);
  }

  /** Installs a read-only word whose value is computed at each read (UART divider, console variable). */
  setDynamic(addr: number, read: () => number): void {
    this.dynamic.set(addr >>> 0, read);
  }

  /**
   * Installs a hook called with the new value of each write to addr; the word keeps the
   * value only if the hook returns true (write-protected peripheral registers).
   */
  onWrite(addr: number, hook: (value: number) => boolean): void {
    this.writeHooks.set(addr >>> 0, hook);
  }

  /** Sets the word directly, as the hardware does (a peripheral resetting its own register). */
  poke(addr: number, value: number): void {
    this.words.set(addr >>> 0, value >>> 0);
  }

  /** Tells whether the SPI flash is attached to the controller; unattached, every flash read is 0xFF. */
  setFlashConnected(connected: () => boolean): void {
    this.flashConnected = connected;
  }

  /** Reads one 32-bit word. */
  read(addr: number): number {
    const a = addr >>> 0;
    const computed = this.dynamic.get(a);
    if (computed) return computed() >>> 0;
    const fixed = this.readOnly.get(a);
    if (fixed !== undefined) return fixed;
    return this.words.get(a) ?? 0;
  }

  /** Writes one word with WRITE_REG's mask semantics: (value & mask) | (old & ~mask). */
  write(addr: number, value: number, mask = 0xffffffff): void {
    const a = addr >>> 0;
    if (this.readOnly.has(a) || this.dynamic.has(a)) return;
    const old = mask === 0xffffffff ? 0 : this.read(a);
    const next = ((value & mask) | (old & ~mask)) >>> 0;
    if (a === this.chip.spi.base && next & SPI_CMD_USR) {
      this.runSpiCommand();
      this.words.set(a, (next & ~SPI_CMD_USR) >>> 0);
      return;
    }
    const hook = this.writeHooks.get(a);
    if (hook && !hook(next)) return;
    this.words.set(a, next);
  }

  private runSpiCommand(): void {
    const spi = this.chip.spi;
    const base = spi.base;
    const usr = this.read(base + spi.usr);
    const usr1 = this.read(base + spi.usr1);
    const command = this.read(base + spi.usr2) & 0xff;
    let misoBits: number;
    if (spi.misoDlen !== undefined) {
      misoBits = usr & SPI_USR_MISO ? (this.read(base + spi.misoDlen) & 0x3ff) + 1 : 0;
    } else {
      misoBits = usr & SPI_USR_MISO ? ((usr1 >>> 8) & 0x1ff) + 1 : 0;
    }
    let address = 0;
    if (usr & SPI_USR_ADDR) {
      const addrBits = ((usr1 >>> 26) & 0x3f) + 1;
      const raw = this.read(base + 4);
      address = spi.addrMsbAligned
        ? raw >>> (32 - addrBits)
        : raw & (addrBits >= 32 ? 0xffffffff : (1 << addrBits) - 1);
    }
    const answer = this.flashAnswer(command, address, Math.ceil(misoBits / 8));
    if (answer === null) return;
    const padded = new Uint8Array(Math.ceil(answer.length / 4) * 4);
    padded.set(answer);
    for (let i = 0; i < padded.length; i += 4) {
      const word = padded[i] | (padded[i + 1] << 8) | (padded[i + 2] << 16) | (padded[i + 3] << 24);
      this.words.set((base + spi.w0 + i) >>> 0, word >>> 0);
    }
  }

  /** The bytes the flash part clocks out for a command; null = no data phase. */
  private flashAnswer(command: number, address: number, misoBytes: number): Uint8Array | null {
    const n = Math.min(misoBytes, 64);
    // A dead part, or one the ROM has not attached yet: MISO floats high.
    if (this.part.dead || !this.flashConnected()) return new Uint8Array(Math.max(n, 4)).fill(0xff);
    switch (command) {
      case 0x9f: {
        const id = this.part.jedecId;
        return Uint8Array.of((id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff, 0);
      }
      case 0x5a: {
        const out = new Uint8Array(Math.max(n, 4)).fill(0xff);
        for (let i = 0; i < n; i++) out[i] = SFDP_TABLE[address + i] ?? 0xff;
        return out;
      }
      case 0x05:
      case 0x35:
      case 0x15:
        // Status registers: not busy, no write protection.
        return new Uint8Array(4);
      case 0x03:
      case 0x0b: {
        const flash = this.part.flash;
        const start = Math.min(address, flash.sizeBytes);
        const len = Math.min(n, flash.sizeBytes - start);
        const out = new Uint8Array(Math.max(n, 4)).fill(0xff);
        out.set(flash.read(start, len));
        return out;
      }
      default:
        // WREN, WRDI, WRSR, reset (0x66/0x99), XMC recovery: accepted, no data.
        return null;
    }
  }
}

/** The JEDEC capacity byte for a flash size (0x16 = 4 MiB). */
export function jedecCapacityCode(sizeBytes: number): number {
  return Math.round(Math.log2(sizeBytes));
}
