import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type ChipName,
  KNOWN_STUBS,
  type KnownStub,
  NEWEST_STUB_RELEASE,
  SimBoard,
  type SimBoardOptions,
  type StubFamily,
  chipNames,
  simTesting,
} from '#sim';

const { HostClient, concat, le32, statusOf, xorChecksum } = simTesting;
type HostClient = simTesting.HostClient;

const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  SYNC: 0x08,
  READ_REG: 0x0a,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
} as const;
const MAGIC_REG = 0x40001000;

const boards: SimBoard[] = [];
afterEach(() => {
  for (const b of boards.splice(0)) {
    expect(b.internalErrors).toEqual([]);
    b.dispose();
  }
});

/**
 * The catalogue's digests are facts read from Espressif's releases; CI has only
 * esptool-js 0.7.0's images. So each entry is exercised through a stand-in image:
 * bytes of our own at the entry's load address, catalogued under their own digest
 * with the entry's behaviour. Recognition of the real bytes is checked for the
 * images CI has (sim-stub.test.ts).
 */
function standIn(stub: KnownStub): { text: Uint8Array; catalogue: KnownStub[] } {
  const length = Math.max(64, stub.entry - stub.textStart + 4);
  const seed = createHash('sha256').update(`${stub.chip}:${stub.textSha256}`).digest();
  const text = new Uint8Array(length).map((_, i) => seed[i % seed.length] ^ (i >> 5));
  const textSha256 = createHash('sha256').update(text).digest('hex');
  return { text, catalogue: [{ ...stub, textSha256 }] };
}

/** Puts a fresh board in download mode with the BOOT and EN buttons and syncs. */
async function romBoard(
  chip: ChipName,
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; host: HostClient }> {
  const board = new SimBoard({ chip, timeScale: 0, enRiseMs: 0, ...options });
  boards.push(board);
  const host = new HostClient(board.openPort());
  host.statusBytes = board.def.romStatusBytes;
  board.pressButton('boot', true);
  board.pressButton('en', true);
  board.pressButton('en', false);
  await board.waitForConsole(chip === 'esp8266' ? /boot mode:\(1,/ : /waiting for download/, 2000);
  board.pressButton('boot', false);
  await host.sync();
  await host.drain(5);
  return { board, host };
}

/** Uploads the stand-in of a catalogue entry and starts it; resolves with what followed MEM_END. */
async function startStandIn(
  stub: KnownStub,
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; host: HostClient; greeting: Uint8Array | null }> {
  const { text, catalogue } = standIn(stub);
  const { board, host } = await romBoard(stub.chip, { stubCatalogue: catalogue, ...options });
  let greeting: Uint8Array | null;
  try {
    greeting = await host.runRamCode([{ address: stub.textStart, data: text }], stub.entry);
  } catch {
    greeting = null;
  }
  host.statusBytes = 2;
  return { board, host, greeting };
}

function dataBlock(seq: number, data: Uint8Array): [number, Uint8Array, number] {
  return [Op.FLASH_DATA, concat(le32(data.length, seq, 0, 0), data), xorChecksum(data)];
}

/**
 * What each family answers, written down from the stubs' sources (not from the
 * simulator's tables): see libs/sim/src/stub-behaviour.ts for the file names.
 */
const EXPECTED: Record<
  Exclude<StubFamily, 'esp-flasher-stub-skeleton'>,
  {
    unknown: [number, number];
    missingData: [number, number];
    misalignedErase: [number, number];
    writeFailure: 'next-command' | 'next-flash-command' | 'lost';
  }
> = {
  'esptool-legacy': {
    unknown: [0xff, 0],
    missingData: [0xc8, 0],
    misalignedErase: [0x01, 0],
    writeFailure: 'next-flash-command',
  },
  'esp-rs-flasher-stub': {
    unknown: [1, 0xc3],
    missingData: [1, 0xc8],
    misalignedErase: [1, 0x36],
    writeFailure: 'lost',
  },
  'esp-flasher-stub': {
    unknown: [0xc3, 0],
    missingData: [0xc0, 0],
    misalignedErase: [0xc0, 0],
    writeFailure: 'next-command',
  },
};

/** esp-flasher-stub ≥ v1.1.0 reads sectors first and skips blank ones (CHANGELOG v1.1.0). */
function skipsBlankSectors(stub: KnownStub): boolean {
  return stub.release === 'esp-flasher-stub v1.2.2';
}

/** esp-flasher-stub ≥ v0.4.0 answers empty plugin slots 0xD5–0xEF with 0xFF00. */
function pluginSlotAnswer(stub: KnownStub): [number, number] {
  if (stub.family === 'esptool-legacy') return [0xff, 0];
  if (stub.family === 'esp-rs-flasher-stub') return [1, 0xc3];
  return stub.release === 'esp-flasher-stub v0.2.0' ? [0xc3, 0] : [0xff, 0];
}

describe('stub catalogue', () => {
  it('lists every modelled chip for each stub release of esptool v5.3.1, its legacy stub, and esptool-js 0.7.0', () => {
    for (const release of [
      'esp-flasher-stub v0.8.1 (= v1.0.0)',
      'esptool-legacy-flasher-stub v1.11.1',
      NEWEST_STUB_RELEASE,
    ]) {
      expect(
        KNOWN_STUBS.filter((s) => s.release === release)
          .map((s) => s.chip)
          .sort(),
      ).toEqual([...chipNames].sort());
    }
    const keys = KNOWN_STUBS.map((s) => `${s.chip}:${s.textSha256}:${s.textStart}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const s of KNOWN_STUBS) {
      expect(s.textSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.entry).toBeGreaterThanOrEqual(s.textStart);
      expect(s.entry - s.textStart).toBeLessThan(0x8000);
    }
  });

  const greeting = KNOWN_STUBS.filter((s) => s.family !== 'esp-flasher-stub-skeleton');
  it.each(greeting.map((s) => [`${s.chip} ${s.release}`, s] as const))(
    '%s: greets, answers as its family does, erases as it does',
    async (_name, stub) => {
      const expected = EXPECTED[stub.family as keyof typeof EXPECTED];
      const {
        board,
        host,
        greeting: hello,
      } = await startStandIn(stub, {
        faults: { flashWriteFailAt: 0x30010 },
      });
      expect(hello && Buffer.from(hello).toString('latin1')).toBe('OHAI');
      expect(board.mode).toBe('stub');
      expect(board.warnings).toEqual([]);

      const syncs = await host.sync();
      expect(syncs.map((r) => [r.value, ...r.data])).toEqual(new Array(8).fill([0, 0, 0]));
      expect(statusOf(await host.command(0x77), 2)).toEqual(expected.unknown);
      expect(statusOf(await host.command(0xd5), 2)).toEqual(pluginSlotAnswer(stub));
      expect(statusOf(await host.command(Op.ERASE_REGION, le32(0x1001, 0x1000)), 2)).toEqual(
        expected.misalignedErase,
      );

      // Half of an 8 KiB write onto blank flash, then END: data missing.
      const erasesBefore = board.flash.eraseOperations;
      expect(statusOf(await host.command(Op.FLASH_BEGIN, le32(0x2000, 1, 0x4000, 0x10000)), 2)).toEqual([
        0, 0,
      ]);
      const half = new Uint8Array(0x1000).fill(0x5a);
      expect(statusOf(await host.command(...dataBlock(0, half)), 2)).toEqual([0, 0]);
      expect(statusOf(await host.command(Op.FLASH_END, le32(1)), 2)).toEqual(expected.missingData);
      expect(board.flash.compare(0x10000, half)).toEqual([]);
      // Blank flash: the skipping stub erased nothing, the others erased ahead of the write.
      if (skipsBlankSectors(stub)) expect(board.flash.eraseOperations).toBe(erasesBefore);
      else expect(board.flash.eraseOperations).toBeGreaterThan(erasesBefore);

      // A write that fails after its ack: where does the error show up?
      expect(statusOf(await host.command(Op.FLASH_BEGIN, le32(0x100, 1, 0x4000, 0x30000)), 2)).toEqual([
        0, 0,
      ]);
      expect(statusOf(await host.command(...dataBlock(0, new Uint8Array(0x100))), 2)).toEqual([0, 0]);
      const next = await host.command(Op.READ_REG, le32(MAGIC_REG));
      const end = await host.command(Op.FLASH_END, le32(1));
      switch (expected.writeFailure) {
        case 'next-command':
          // The next command of any kind gets the error and is not executed.
          expect([next.value, ...statusOf(next, 2)]).toEqual([0, 0xc4, 0]);
          // The failed block did not count as written: END finds data missing.
          expect(statusOf(end, 2)).toEqual(expected.missingData);
          break;
        case 'next-flash-command':
          expect(next.value).toBe(board.readRegister(MAGIC_REG));
          expect(statusOf(next, 2)).toEqual([0, 0]);
          expect(statusOf(end, 2)).toEqual([0xc4, 0]);
          break;
        case 'lost':
          expect(statusOf(next, 2)).toEqual([0, 0]);
          expect(statusOf(end, 2)).toEqual([0, 0]);
          break;
      }
      expect(board.flash.read(0x30000, 1)[0]).toBe(0xff);
    },
  );

  it.each(
    KNOWN_STUBS.filter((s) => s.family === 'esp-flasher-stub-skeleton').map((s) => [s.chip, s] as const),
  )(
    '%s esp-flasher-stub v0.1.0 (esptool v5.0–v5.1 stub_flasher/2) never greets: the chip goes quiet',
    async (_chip, stub) => {
      const { board, host, greeting } = await startStandIn(stub);
      expect(greeting).toBeNull();
      expect(board.mode).toBe('halted');
      await expect(host.command(Op.SYNC, new Uint8Array(36), 0, 100)).rejects.toThrow();
    },
  );
});

describe('RAM code outside the catalogue', () => {
  const code = new Uint8Array(256).map((_, i) => (i * 31 + 7) & 0xff);
  const digest = createHash('sha256').update(code).digest('hex');

  it('runs as the newest stub of the chip, with a warning naming its digest', async () => {
    const { board, host } = await romBoard('esp32c3');
    const hello = await host.runRamCode([{ address: 0x40380000, data: code }], 0x40380010);
    expect(Buffer.from(hello).toString('latin1')).toBe('OHAI');
    expect(board.mode).toBe('stub');
    expect(board.warnings).toHaveLength(1);
    expect(board.warnings[0]).toContain(digest);
    expect(board.warnings[0]).toContain(NEWEST_STUB_RELEASE);
    host.statusBytes = 2;
    // It behaves as that release: unknown opcode C3 00.
    expect(statusOf(await host.command(0x77), 2)).toEqual([0xc3, 0]);
  });

  it('strictStubs: the chip goes silent as for any code it cannot run, without a warning', async () => {
    const { board, host } = await romBoard('esp32c3', { strictStubs: true });
    await expect(host.runRamCode([{ address: 0x40380000, data: code }], 0x40380010)).rejects.toThrow(
      'no frame',
    );
    expect(board.mode).toBe('halted');
    expect(board.warnings).toEqual([]);
  });

  it('an entry point outside every uploaded segment halts the chip', async () => {
    const { board, host } = await romBoard('esp32');
    await expect(host.runRamCode([{ address: 0x40080000, data: code }], 0x400a0000)).rejects.toThrow(
      'no frame',
    );
    expect(board.mode).toBe('halted');
  });
});

describe('family details', () => {
  const legacy = KNOWN_STUBS.find(
    (s) => s.chip === 'esp32' && s.release === 'esptool-legacy-flasher-stub v1.11.1',
  )!;
  const rust = KNOWN_STUBS.find((s) => s.chip === 'esp32' && s.family === 'esp-rs-flasher-stub')!;

  async function readPackets(host: HostClient, maxInFlight: number): Promise<number> {
    expect(statusOf(await host.command(Op.READ_FLASH, le32(0, 0x4000, 0x1000, maxInFlight)), 2)).toEqual([
      0, 0,
    ]);
    // Without acknowledging anything: how many packets does the stub send?
    return (await host.drain(50)).length;
  }

  it('READ_FLASH window: legacy counts the 4th argument in bytes, the Rust stub in packets', async () => {
    const a = await startStandIn(legacy);
    expect(await readPackets(a.host, 64)).toBe(1);
    const b = await startStandIn(legacy);
    expect(await readPackets(b.host, 0x2000)).toBe(2);
    const c = await startStandIn(rust);
    expect(await readPackets(c.host, 3)).toBe(3);
  });

  it('READ_FLASH with many packets in flight (Rust stub, esptool asks for 64): in order, at real time', async () => {
    const { board, host } = await startStandIn(rust, { timeScale: 1 });
    const content = new Uint8Array(16 * 4096);
    for (let k = 0; k < 16; k++) content.set(createHash('sha512').update(`packet ${k}`).digest(), k * 4096);
    board.flash.program(0x10000, content);
    expect(statusOf(await host.command(Op.READ_FLASH, le32(0x10000, content.length, 0x1000, 64)), 2)).toEqual(
      [0, 0],
    );
    const received: number[] = [];
    while (received.length < content.length) {
      received.push(...(await host.nextFrame(5000)));
      host.writeRaw(Uint8Array.of(0xc0, ...le32(received.length), 0xc0));
    }
    const digest = await host.nextFrame();
    expect(Buffer.from(Uint8Array.from(received)).equals(Buffer.from(content))).toBe(true);
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('md5').update(content).digest('hex'));
  });

  it('legacy: a frame whose size field exceeds its buffer is answered C0 EE', async () => {
    const { host } = await startStandIn(legacy);
    host.writeRaw(
      concat(
        Uint8Array.of(0xc0),
        simTesting.request(Op.FLASH_DATA, new Uint8Array(0x4020)),
        Uint8Array.of(0xc0),
      ),
    );
    const reply = await host.nextReply();
    expect(statusOf(reply, 2)).toEqual([0xc0, 0xee]);
  });

  it('FLASH_END(0) reboots under the legacy stub and is a no-op under esp-flasher-stub', async () => {
    const newest = KNOWN_STUBS.find((s) => s.chip === 'esp32' && s.release === NEWEST_STUB_RELEASE)!;
    for (const [stub, reboots] of [
      [legacy, true],
      [newest, false],
    ] as const) {
      const { board, host } = await startStandIn(stub);
      await host.command(Op.FLASH_BEGIN, le32(0, 0, 0x4000, 0x10000));
      expect(statusOf(await host.command(Op.FLASH_END, le32(0)), 2)).toEqual([0, 0]);
      if (reboots) await board.waitForConsole(/rst:0xc/, 2000);
      else
        expect((await host.command(Op.READ_REG, le32(MAGIC_REG))).value).toBe(board.readRegister(MAGIC_REG));
      expect(board.mode).toBe(reboots ? 'rom' : 'stub');
    }
  });
});
