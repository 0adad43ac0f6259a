import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChipName, KNOWN_STUBS, SimBoard, type SimBoardOptions, chipNames, simTesting } from '#sim';

const { HostClient, concat, le32, statusOf, xorChecksum } = simTesting;
type HostClient = simTesting.HostClient;

const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  SYNC: 0x08,
  READ_REG: 0x0a,
  SPI_ATTACH: 0x0d,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
} as const;

/** The stub JSON files shipped in the installed esptool-js. */
const stubDir = join(
  dirname(createRequire(import.meta.url).resolve('esptool-js')),
  'targets',
  'stub_flasher',
);

interface StubJson {
  entry: number;
  text: string;
  text_start: number;
  data?: string;
  data_start?: number;
}

function stubJson(chip: ChipName): StubJson {
  return JSON.parse(readFileSync(join(stubDir, `${chip}.json`), 'utf8')) as StubJson;
}

const boards: SimBoard[] = [];
afterEach(() => {
  for (const b of boards.splice(0)) {
    expect(b.internalErrors).toEqual([]);
    b.dispose();
  }
});

/** Connects to the ROM, uploads esptool-js's stub for the chip and waits for OHAI. */
async function stub(
  chip: ChipName = 'esp32',
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; host: HostClient }> {
  return stubFrom(chip, stubJson(chip), options);
}

/** Uploads a stub JSON's segments to a board of the given chip and waits for OHAI. */
async function stubFrom(
  chip: ChipName,
  json: StubJson,
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; host: HostClient }> {
  const board = new SimBoard({ chip, timeScale: 0, ...options });
  boards.push(board);
  const host = new HostClient(board.openPort());
  host.statusBytes = board.def.romStatusBytes;
  await host.enterBootloader();
  const segments = [{ address: json.text_start, data: new Uint8Array(Buffer.from(json.text, 'base64')) }];
  if (json.data && json.data_start !== undefined)
    segments.push({ address: json.data_start, data: new Uint8Array(Buffer.from(json.data, 'base64')) });
  const greeting = await host.runRamCode(segments, json.entry);
  expect(Buffer.from(greeting).toString('latin1')).toBe('OHAI');
  expect(board.mode).toBe('stub');
  host.statusBytes = 2;
  return { board, host };
}

function dataBlock(
  op: number,
  seq: number,
  data: Uint8Array,
  checksum = xorChecksum(data),
): [number, Uint8Array, number] {
  return [op, concat(le32(data.length, seq, 0, 0), data), checksum];
}

describe('stub recognition', () => {
  it('the esptool-js 0.7.0 entries of the catalogue match the package installed, byte for byte', () => {
    const shipped = KNOWN_STUBS.filter((s) => s.shippedIn.includes('esptool-js v0.7.0'));
    expect(shipped.map((s) => s.chip).sort()).toEqual([...chipNames].sort());
    for (const known of shipped) {
      const json = stubJson(known.chip);
      const digest = createHash('sha256').update(Buffer.from(json.text, 'base64')).digest('hex');
      expect({ chip: known.chip, digest, start: json.text_start, entry: json.entry }).toEqual({
        chip: known.chip,
        digest: known.textSha256,
        start: known.textStart,
        entry: known.entry,
      });
      expect(known.release).toBe('esp-flasher-stub v1.2.2');
    }
  });

  it.each(chipNames)(
    '%s: the stub answers SYNC with value 0 and 2 status bytes, eight times',
    async (chip) => {
      const { host } = await stub(chip);
      const replies = await host.sync();
      expect(replies).toHaveLength(8);
      for (const r of replies) {
        expect(r.value).toBe(0);
        expect(Array.from(r.data)).toEqual([0, 0]);
      }
    },
  );

  it("another chip's stub is not recognised: strictStubs keeps the chip silent", async () => {
    const board = new SimBoard({ chip: 'esp32s3', timeScale: 0, strictStubs: true });
    boards.push(board);
    const host = new HostClient(board.openPort());
    await host.enterBootloader();
    const json = stubJson('esp32c3');
    await expect(
      host.runRamCode(
        [{ address: json.text_start, data: new Uint8Array(Buffer.from(json.text, 'base64')) }],
        json.entry,
      ),
    ).rejects.toThrow('no frame');
    expect(board.mode).toBe('halted');
  });

  it("another chip's stub, by default, runs as the chip's newest stub with a warning naming its digest", async () => {
    const { board } = await stubFrom('esp32s3', stubJson('esp32c3'));
    const digest = createHash('sha256')
      .update(Buffer.from(stubJson('esp32c3').text, 'base64'))
      .digest('hex');
    expect(board.warnings).toHaveLength(1);
    expect(board.warnings[0]).toContain(digest);
  });
});

describe('stub personality (esp-flasher-stub as shipped by esptool-js)', () => {
  it('unknown opcode: C3 00 under the same opcode; bad checksum: C1 00; SPI_ATTACH of 8 bytes: C0 00', async () => {
    const { host } = await stub();
    const unknown = await host.command(0x77);
    expect(Array.from(unknown.data)).toEqual([0xc3, 0]);
    await host.command(Op.FLASH_BEGIN, le32(16, 1, 0x4000, 0x10000));
    expect(
      Array.from((await host.command(...dataBlock(Op.FLASH_DATA, 0, new Uint8Array(16), 0x33))).data),
    ).toEqual([0xc1, 0]);
    expect(Array.from((await host.command(Op.SPI_ATTACH, le32(0, 0))).data)).toEqual([0xc0, 0]);
    expect(Array.from((await host.command(Op.SPI_ATTACH, le32(0))).data)).toEqual([0, 0]);
  });

  it('GET_SECURITY_INFO: 12 bytes on S2, 20 with chip id on S3', async () => {
    const s2 = await stub('esp32s2');
    expect((await s2.host.command(Op.GET_SECURITY_INFO)).data.length).toBe(12 + 2);
    const s3 = await stub('esp32s3');
    const reply = await s3.host.command(Op.GET_SECURITY_INFO);
    expect(reply.data.length).toBe(20 + 2);
    expect(reply.data[12]).toBe(9);
  });

  it('FLASH_BEGIN takes the exact size; the padded last block is trimmed; erase is lazy; MD5 is 16 raw bytes', async () => {
    const { board, host } = await stub();
    // Something already there right after the image must survive.
    board.flash.program(0x10000 + 20000, Uint8Array.of(0x12, 0x34));
    const image = new Uint8Array(20000).map((_, i) => (i * 7) & 0xff);
    expect(
      Array.from((await host.command(Op.FLASH_BEGIN, le32(image.length, 2, 0x4000, 0x10000))).data),
    ).toEqual([0, 0]);
    for (let seq = 0; seq < 2; seq++) {
      const block = new Uint8Array(0x4000).fill(0xff);
      block.set(image.subarray(seq * 0x4000, (seq + 1) * 0x4000));
      expect(Array.from((await host.command(...dataBlock(Op.FLASH_DATA, seq, block))).data)).toEqual([0, 0]);
    }
    expect(Array.from((await host.command(Op.FLASH_END, le32(1))).data)).toEqual([0, 0]);
    expect(board.flash.compare(0x10000, image)).toEqual([]);
    // Lazy erase went sector by sector: the sector holding the neighbour's bytes was erased, then only the image was written.
    expect(Array.from(board.flash.read(0x10000 + 20000, 2))).toEqual([0xff, 0xff]);
    const md5 = await host.command(Op.SPI_FLASH_MD5, le32(0x10000, image.length, 0, 0));
    expect(Buffer.from(md5.data.subarray(0, 16)).toString('hex')).toBe(
      createHash('md5').update(image).digest('hex'),
    );
    expect(md5.data.length).toBe(18);
  });

  it('compressed write in 16 KiB blocks, END as the barrier', async () => {
    const { board, host } = await stub('esp32s3', { timeScale: 0.01 });
    const image = new Uint8Array(300_000).map((_, i) => (i % 97) ^ (i >> 10));
    const z = deflateSync(image, { level: 9 });
    const blocks = Math.ceil(z.length / 0x4000);
    await host.command(Op.FLASH_DEFL_BEGIN, le32(image.length, blocks, 0x4000, 0x100000));
    for (let seq = 0; seq < blocks; seq++) {
      expect(
        Array.from(
          (
            await host.command(
              ...dataBlock(Op.FLASH_DEFL_DATA, seq, z.subarray(seq * 0x4000, (seq + 1) * 0x4000)),
            )
          ).data,
        ),
      ).toEqual([0, 0]);
    }
    expect(Array.from((await host.command(Op.FLASH_DEFL_END, le32(1), 0, 5000)).data)).toEqual([0, 0]);
    expect(board.flash.compare(0x100000, image)).toEqual([]);
  });

  it('a write failure is acknowledged first and reported on the next command, which is not executed', async () => {
    const { board, host } = await stub('esp32', { faults: { flashWriteFailAt: 0x20010 } });
    await host.command(Op.FLASH_BEGIN, le32(0x100, 1, 0x4000, 0x20000));
    const block = new Uint8Array(0x4000).fill(0x00);
    expect(Array.from((await host.command(...dataBlock(Op.FLASH_DATA, 0, block))).data)).toEqual([0, 0]);
    const next = await host.command(Op.READ_REG, le32(0x40001000));
    expect(Array.from(next.data)).toEqual([0xc4, 0]);
    expect(next.value).toBe(0);
    expect((await host.command(Op.READ_REG, le32(0x40001000))).value).toBe(0x00f01d83);
    expect(board.flash.read(0x20000, 1)[0]).toBe(0xff);
  });

  it('FLASH_END with data still missing: C0 00', async () => {
    const { host } = await stub();
    await host.command(Op.FLASH_BEGIN, le32(0x8000, 2, 0x4000, 0x30000));
    await host.command(...dataBlock(Op.FLASH_DATA, 0, new Uint8Array(0x4000)));
    expect(Array.from((await host.command(Op.FLASH_END, le32(1))).data)).toEqual([0xc0, 0]);
  });

  it('ERASE_FLASH and ERASE_REGION (sector-aligned only)', async () => {
    const { board, host } = await stub('esp32', { flashSizeBytes: 1024 * 1024 });
    board.flash.program(0x5000, Uint8Array.of(1));
    board.flash.program(0x9000, Uint8Array.of(2));
    expect(Array.from((await host.command(Op.ERASE_REGION, le32(0x5001, 0x1000))).data)).toEqual([0xc0, 0]);
    expect(Array.from((await host.command(Op.ERASE_REGION, le32(0x5000, 0x1000))).data)).toEqual([0, 0]);
    expect(board.flash.read(0x5000, 1)[0]).toBe(0xff);
    expect(board.flash.read(0x9000, 1)[0]).toBe(2);
    expect(Array.from((await host.command(Op.ERASE_FLASH)).data)).toEqual([0, 0]);
    expect(board.flash.allocatedSectors).toBe(0);
  });

  it('READ_FLASH streams packets, waits for each ack and ends with the MD5 of the data', async () => {
    const { board, host } = await stub();
    const content = new Uint8Array(10_000).map((_, i) => (i * 5) & 0xff);
    board.flash.program(0x40000, content);
    expect(
      Array.from((await host.command(Op.READ_FLASH, le32(0x40000, content.length, 0x1000, 64))).data),
    ).toEqual([0, 0]);
    const received: number[] = [];
    while (received.length < content.length) {
      const packet = await host.nextFrame();
      received.push(...packet);
      host.writeRaw(Uint8Array.of(0xc0, ...le32(received.length), 0xc0));
    }
    const digest = await host.nextFrame();
    expect(Uint8Array.from(received)).toEqual(content);
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('md5').update(content).digest('hex'));
  });

  it('CHANGE_BAUDRATE(new, old): reply at the old rate, then the new one', async () => {
    const { board, host } = await stub();
    expect(Array.from((await host.command(Op.CHANGE_BAUDRATE, le32(460800, 115200))).data)).toEqual([0, 0]);
    expect(board.chipBaud).toBe(460800);
    host.port.setBaudRate(460800);
    expect((await host.command(Op.READ_REG, le32(0x40001000))).value).toBe(0x00f01d83);
  });

  it('writes past the end of flash: C4 00', async () => {
    const { host } = await stub('esp32', { flashSizeBytes: 2 * 1024 * 1024 });
    expect(statusOf(await host.command(Op.FLASH_BEGIN, le32(0x2000, 1, 0x4000, 0x1ff000)), 2)).toEqual([
      0xc4, 0,
    ]);
  });
});
