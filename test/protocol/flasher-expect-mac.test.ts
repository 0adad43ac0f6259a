/**
 * A production fixture keeps its port while the unit under it changes. The
 * flasher is told the MAC it expects and must stop with DEVICE_CHANGED,
 * before writing anything, when another unit answers — at the first connect
 * and after a reconnect mid-flash.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { chipInfo, DeviceChangedError, eraseFlash, flash, type FlashRegion, Op, SlipDecoder } from '#esp';
import { SimTransport } from '#serial';
import { SimBoard, type SimPortHandle } from '#sim';
import { failure } from './support/sim-board.js';

const MAC_A = 'aa:bb:cc:00:00:0a';
const MAC_B = 'aa:bb:cc:00:00:0b';

/** Requests that change flash, or load code into RAM (the stub): none may reach another unit. */
const WRITING_OPS: ReadonlySet<number> = new Set([
  Op.FLASH_BEGIN,
  Op.FLASH_DATA,
  Op.FLASH_END,
  Op.FLASH_DEFL_BEGIN,
  Op.FLASH_DEFL_DATA,
  Op.FLASH_DEFL_END,
  Op.ERASE_FLASH,
  Op.ERASE_REGION,
  Op.MEM_BEGIN,
  Op.MEM_DATA,
]);

/** The fixture: one port name, whichever unit is under it. */
class Fixture {
  constructor(public unit: SimBoard) {}
  readonly name = 'fixture-slot-1';
  openPort(): SimPortHandle {
    return this.unit.openPort();
  }
}

/** A transport that records the opcode of every request the host sends, and to which unit's port. */
class RecordingTransport extends SimTransport {
  readonly requests: Array<{ unit: string; op: number }> = [];
  private readonly decoder = new SlipDecoder();
  /** The unit whose port the current open reached. */
  private unit = '';

  constructor(private readonly fixture: Fixture) {
    super(fixture);
  }

  override async open(baudRate: number): Promise<void> {
    await super.open(baudRate);
    this.unit = this.fixture.unit.mac;
  }

  override write(data: Uint8Array): Promise<void> {
    for (const event of this.decoder.push(data)) {
      if (event.kind === 'frame' && event.data[0] === 0x00)
        this.requests.push({ unit: this.unit, op: event.data[1] });
    }
    return super.write(data);
  }

  writingOpsTo(mac: string): number[] {
    return this.requests.filter((r) => r.unit === mac && WRITING_OPS.has(r.op)).map((r) => r.op);
  }
}

const boards: SimBoard[] = [];
const transports: SimTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const b of boards.splice(0)) b.dispose();
});

function unit(mac: string): SimBoard {
  const board = new SimBoard({ chip: 'esp32', name: `unit-${mac.slice(-2)}`, mac, timeScale: 0 });
  boards.push(board);
  return board;
}

function fixtureWith(board: SimBoard): { fixture: Fixture; transport: RecordingTransport } {
  const fixture = new Fixture(board);
  const transport = new RecordingTransport(fixture);
  transports.push(transport);
  return { fixture, transport };
}

/** SHA-256 of a unit's whole flash. */
function flashHash(board: SimBoard): string {
  return createHash('sha256').update(board.flash.read(0, board.flash.sizeBytes)).digest('hex');
}

/** Content a unit already holds (its own firmware), so that any erase or write would show. */
function withFirmware(board: SimBoard): SimBoard {
  board.flash.program(
    0x10000,
    Uint8Array.from({ length: 0x20000 }, (_, i) => (i * 31) & 0xff),
  );
  return board;
}

const image = (): FlashRegion[] => [
  { offset: 0x10000, data: Uint8Array.from({ length: 0x40000 }, (_, i) => (i * 7) & 0xff), name: 'app' },
];

describe('expectMac', () => {
  it('flashes the board it expects, given its MAC in any common notation', async () => {
    const a = unit(MAC_A);
    const { transport } = fixtureWith(a);
    const result = await flash(transport, image(), { expectMac: 'AA-BB-CC-00-00-0A' });
    expect(result.chip.mac).toBe(MAC_A);
    expect(result.regions[0].verified).toBe(true);
    expect(transport.writingOpsTo(MAC_A).length).toBeGreaterThan(0);
  });

  it('stops with DEVICE_CHANGED before writing when another unit is under the fixture', async () => {
    const b = withFirmware(unit(MAC_B));
    const before = flashHash(b);
    const { transport } = fixtureWith(b);
    const err = await failure(flash(transport, image(), { expectMac: MAC_A }));
    expect(err).toBeInstanceOf(DeviceChangedError);
    expect(err).toMatchObject({
      code: 'DEVICE_CHANGED',
      stage: 'detect',
      expectedMac: MAC_A,
      actualMac: MAC_B,
      detail: { expectedMac: MAC_A, actualMac: MAC_B, port: 'sim://fixture-slot-1' },
    });
    expect(err.message).toContain('Nothing was written');
    // It did talk to the unit (sync, register reads), and sent nothing that writes.
    expect(transport.requests.some((r) => r.op === Op.READ_REG)).toBe(true);
    expect(transport.writingOpsTo(MAC_B)).toEqual([]);
    expect(flashHash(b)).toBe(before);
    expect(transport.isOpen).toBe(false);
  });

  it('guards erase and info the same way', async () => {
    const b = withFirmware(unit(MAC_B));
    const before = flashHash(b);
    const { transport } = fixtureWith(b);
    expect((await failure(eraseFlash(transport, { expectMac: MAC_A }))).code).toBe('DEVICE_CHANGED');
    expect((await failure(chipInfo(transport, { expectMac: MAC_A }))).code).toBe('DEVICE_CHANGED');
    expect(transport.writingOpsTo(MAC_B)).toEqual([]);
    expect(flashHash(b)).toBe(before);
  });

  it('refuses an expectMac that is not a MAC, before touching the port', async () => {
    const { transport } = fixtureWith(unit(MAC_A));
    const err = await failure(flash(transport, image(), { expectMac: 'aa:bb:cc' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(transport.requests).toEqual([]);
  });

  it('stops when the unit is swapped mid-flash and another one answers the reconnect', async () => {
    const a = unit(MAC_A);
    const b = withFirmware(unit(MAC_B));
    const before = flashHash(b);
    const { fixture, transport } = fixtureWith(a);
    let swapped = false;
    const err = await failure(
      flash(transport, image(), {
        // No expectMac: the MAC read at the first connect is the one the session must keep.
        reopenWaitMs: 5_000,
        onEvent: (event) => {
          if (!swapped && event.type === 'progress' && event.bytesDone > 0) {
            swapped = true;
            fixture.unit = b;
            a.unplug();
          }
        },
      }),
    );
    expect(swapped).toBe(true);
    expect(err).toBeInstanceOf(DeviceChangedError);
    expect(err).toMatchObject({ code: 'DEVICE_CHANGED', expectedMac: MAC_A, actualMac: MAC_B });
    expect(err.message).toContain('After reconnecting');
    expect(transport.writingOpsTo(MAC_A).length).toBeGreaterThan(0);
    expect(transport.writingOpsTo(MAC_B)).toEqual([]);
    expect(flashHash(b)).toBe(before);
  });
});
