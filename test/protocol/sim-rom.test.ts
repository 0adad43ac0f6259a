import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChipName, SimBoard, type SimBoardOptions, simTesting, slipEncode } from '#sim';

const { HostClient, concat, le32, request, statusOf, xorChecksum } = simTesting;
type HostClient = simTesting.HostClient;

const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  READ_REG: 0x0a,
  READ_FLASH_SLOW: 0x0e,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  SPI_FLASH_MD5: 0x13,
} as const;
const MAGIC_ADDR = 0x40001000;

const boards: SimBoard[] = [];
afterEach(() => {
  for (const b of boards.splice(0)) {
    expect(b.internalErrors).toEqual([]);
    b.dispose();
  }
});

async function rom(
  chip: ChipName = 'esp32',
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; host: HostClient }> {
  const board = new SimBoard({ chip, timeScale: 0, ...options });
  boards.push(board);
  const host = new HostClient(board.openPort());
  host.statusBytes = board.def.romStatusBytes;
  await host.enterBootloader();
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

describe('ROM loader: bad input gets the ROM error answers', () => {
  it('wrong checksum on MEM_DATA and FLASH_DATA: 01 07', async () => {
    const { host } = await rom();
    await host.command(Op.MEM_BEGIN, le32(16, 1, 16, 0x3ffe0000));
    const mem = await host.command(...dataBlock(Op.MEM_DATA, 0, new Uint8Array(16).fill(3), 0x12));
    expect(Array.from(mem.data)).toEqual([1, 7, 0, 0]);
    await host.command(Op.FLASH_BEGIN, le32(0x1000, 1, 0x400, 0x10000, 0));
    const flash = await host.command(...dataBlock(Op.FLASH_DATA, 0, new Uint8Array(0x400).fill(1), 0));
    expect(statusOf(flash, 4)).toEqual([1, 7]);
  });

  it('unknown opcode: 01 05 under a different opcode, eight times (§1.8 shape a), then business as usual', async () => {
    const { host } = await rom();
    host.send(0x55, le32(1));
    const replies = [await host.nextReply(), ...(await host.drain())];
    expect(replies).toHaveLength(8);
    for (const r of replies.map((f) => (f instanceof Uint8Array ? f : f.raw))) {
      expect(r[1]).not.toBe(0x55);
      expect(Array.from(r.subarray(8))).toEqual([1, 5, 0, 0]);
    }
    expect((await host.command(Op.READ_REG, le32(MAGIC_ADDR))).value).toBe(0x00f01d83);
  });

  it('size field not matching the body: 01 05 with the same opcode', async () => {
    const { host } = await rom();
    const pkt = request(Op.READ_REG, le32(MAGIC_ADDR));
    pkt[2] = 9;
    host.writeRaw(slipEncode(pkt));
    const reply = await host.nextReply();
    expect(reply.op).toBe(Op.READ_REG);
    expect(statusOf(reply, 4)).toEqual([1, 5]);
  });

  it('ignores reply-direction frames, short frames, bad escapes and oversized frames, and keeps answering', async () => {
    const { host } = await rom();
    const asReply = request(Op.READ_REG, le32(MAGIC_ADDR));
    asReply[0] = 1;
    host.writeRaw(slipEncode(asReply));
    host.writeRaw(Uint8Array.of(0xc0, 0x00, 0x0a, 0xc0));
    host.writeRaw(Uint8Array.of(0xc0, 0x00, 0x0a, 0x04, 0x00, 0xdb, 0x01, 0, 0, 0, 0x10, 0, 0x40, 0xc0));
    host.writeRaw(slipEncode(request(Op.FLASH_DATA, new Uint8Array(40_000))));
    host.writeRaw(Buffer.from('noise between frames'));
    expect(await host.drain(50)).toEqual([]);
    expect((await host.command(Op.READ_REG, le32(MAGIC_ADDR))).value).toBe(0x00f01d83);
  });

  it('writes past the end of flash: FLASH_BEGIN answers 01 01 and nothing is erased', async () => {
    const { board, host } = await rom('esp32', { flashSizeBytes: 2 * 1024 * 1024 });
    board.flash.program(0x1ff000, Uint8Array.of(0x42));
    const reply = await host.command(Op.FLASH_BEGIN, le32(0x2000, 8, 0x400, 0x1ff000, 0));
    expect(statusOf(reply, 4)).toEqual([1, 1]);
    expect(board.flash.read(0x1ff000, 1)[0]).toBe(0x42);
  });

  it('FLASH_DATA must be exactly the block size; a flash write failure answers 01 08', async () => {
    const { board, host } = await rom();
    await host.command(Op.FLASH_BEGIN, le32(0x800, 2, 0x400, 0x20000, 0));
    expect(statusOf(await host.command(...dataBlock(Op.FLASH_DATA, 0, new Uint8Array(0x100))), 4)).toEqual([
      1, 5,
    ]);
    board.setFaults({ flashWriteFailAt: 0x20410 });
    expect(
      statusOf(await host.command(...dataBlock(Op.FLASH_DATA, 0, new Uint8Array(0x400).fill(0x11))), 4),
    ).toEqual([0, 0]);
    expect(
      statusOf(await host.command(...dataBlock(Op.FLASH_DATA, 1, new Uint8Array(0x400).fill(0x22))), 4),
    ).toEqual([1, 8]);
    expect(board.flash.read(0x20400, 1)[0]).toBe(0xff);
  });
});

describe('ROM loader: flashing', () => {
  it('FLASH_BEGIN/DATA (16- and 20-byte BEGIN), then SPI_FLASH_MD5 as 32 lowercase hex characters', async () => {
    const { board, host } = await rom();
    const image = new Uint8Array(3000).map((_, i) => (i * 13) & 0xff);
    for (const [offset, begin] of [
      [0x30000, le32(image.length, 3, 0x400, 0x30000)],
      [0x40000, le32(image.length, 3, 0x400, 0x40000, 0)],
    ] as const) {
      expect(statusOf(await host.command(Op.FLASH_BEGIN, begin), 4)).toEqual([0, 0]);
      for (let seq = 0; seq < 3; seq++) {
        const block = new Uint8Array(0x400).fill(0xff);
        block.set(image.subarray(seq * 0x400, (seq + 1) * 0x400));
        expect(statusOf(await host.command(...dataBlock(Op.FLASH_DATA, seq, block)), 4)).toEqual([0, 0]);
      }
      expect(board.flash.compare(offset, image)).toEqual([]);
      const md5 = await host.command(Op.SPI_FLASH_MD5, le32(offset, image.length, 0, 0));
      expect(Buffer.from(md5.data.subarray(0, 32)).toString('ascii')).toBe(
        createHash('md5').update(image).digest('hex'),
      );
      expect(md5.data.length).toBe(36);
    }
  });

  it('FLASH_DEFL_*: inflates one zlib stream across blocks', async () => {
    const { board, host } = await rom('esp32c3');
    const image = new Uint8Array(50_000).map((_, i) => (i % 251) ^ (i >> 8));
    const z = deflateSync(image, { level: 9 });
    const blockSize = 0x400;
    const blocks = Math.ceil(z.length / blockSize);
    expect(
      statusOf(
        await host.command(
          Op.FLASH_DEFL_BEGIN,
          le32(Math.ceil(image.length / blockSize) * blockSize, blocks, blockSize, 0x50000, 0),
        ),
        4,
      ),
    ).toEqual([0, 0]);
    for (let seq = 0; seq < blocks; seq++) {
      expect(
        statusOf(
          await host.command(
            ...dataBlock(Op.FLASH_DEFL_DATA, seq, z.subarray(seq * blockSize, (seq + 1) * blockSize)),
          ),
          4,
        ),
      ).toEqual([0, 0]);
    }
    expect(board.flash.compare(0x50000, image)).toEqual([]);
  });

  it('a corrupt zlib stream answers 01 0B', async () => {
    const { host } = await rom();
    await host.command(Op.FLASH_DEFL_BEGIN, le32(0x1000, 1, 0x400, 0x60000));
    const reply = await host.command(
      ...dataBlock(Op.FLASH_DEFL_DATA, 0, Uint8Array.of(0x78, 0x9c, 0xff, 0xff, 0xff, 1, 2, 3)),
    );
    expect(statusOf(reply, 4)).toEqual([1, 0x0b]);
  });

  it('READ_FLASH_SLOW returns 64 bytes', async () => {
    const { board, host } = await rom();
    board.flash.program(0x1000, Uint8Array.of(1, 2, 3, 4));
    const reply = await host.command(Op.READ_FLASH_SLOW, le32(0x1000, 4));
    expect(reply.data.length).toBe(64 + 4);
    expect(Array.from(reply.data.subarray(0, 5))).toEqual([1, 2, 3, 4, 0xff]);
  });

  it('the ESP8266 ROM erases about n + min(n, head) sectors: a naive flasher wipes the data that follows, esptool’s workaround does not', async () => {
    const sector = 4096;
    for (const workaround of [false, true]) {
      const { board, host } = await rom('esp8266');
      expect(host.statusBytes).toBe(2);
      // Data of a neighbour: sectors 0x12..0x15 hold a pattern.
      board.flash.program(0x12000, new Uint8Array(4 * sector).fill(0x5a));
      const size = 2 * sector;
      const offset = 0x10000;
      // esptool: head = 16 − start mod 16 = 16, sectors(2) < 2·head → send ceil(2/2) sectors.
      const eraseSize = workaround ? Math.ceil(2 / 2) * sector : size;
      expect(statusOf(await host.command(Op.FLASH_BEGIN, le32(eraseSize, 2, 0x1000, offset)), 2)).toEqual([
        0, 0,
      ]);
      const neighbourIntact = board.flash.read(0x12000, 2 * sector).every((b) => b === 0x5a);
      expect(neighbourIntact).toBe(workaround);
    }
  });

  it('ESP8266 ROM: no compressed download, 2-byte status in the unsupported answer', async () => {
    const { host } = await rom('esp8266');
    host.send(Op.FLASH_DEFL_BEGIN, le32(0x1000, 1, 0x400, 0));
    const reply = await host.nextReply();
    expect(reply.op).not.toBe(Op.FLASH_DEFL_BEGIN);
    expect(Array.from(reply.data)).toEqual([1, 5]);
  });

  it('MEM_END into code that is not a known stub, strictStubs: the chip goes silent until reset', async () => {
    const { board, host } = await rom('esp32', { strictStubs: true });
    const code = new Uint8Array(64).fill(0x90);
    const next = host.runRamCode([{ address: 0x40090000, data: code }], 0x40090000);
    await expect(next).rejects.toThrow('no frame');
    expect(board.mode).toBe('halted');
    host.send(Op.SYNC, new Uint8Array(36));
    expect(await host.drain(50)).toEqual([]);
    await host.enterBootloader();
  });
});
