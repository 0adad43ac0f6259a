import { afterEach, describe, expect, it } from '@jest/globals';
import { FlashErrorCode } from '#contracts';
import { openTransport, SimTransport, TransportError } from '#serial';
import { SimBoard } from '#sim';

// The in-process transport against a real simulated board: the reset lines
// reach the board's auto-reset circuit and its ROM answers a SYNC.

const SYNC_FRAME = Uint8Array.from([
  0xc0,
  0x00,
  0x08,
  0x24,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x07,
  0x07,
  0x12,
  0x20,
  ...new Array<number>(32).fill(0x55),
  0xc0,
]);

const boards: SimBoard[] = [];
const transports: SimTransport[] = [];
afterEach(async () => {
  for (const transport of transports.splice(0)) await transport.close();
  for (const board of boards.splice(0)) board.dispose();
});

function setup(name: string): { board: SimBoard; transport: SimTransport } {
  const board = new SimBoard({ chip: 'esp32', name, timeScale: 0.01 });
  boards.push(board);
  const transport = new SimTransport(board);
  transports.push(transport);
  return { board, transport };
}

async function readUntil(
  transport: SimTransport,
  done: (text: Buffer) => boolean,
  timeoutMs = 3_000,
): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  let got = Buffer.alloc(0);
  while (!done(got)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out; got ${got.toString('latin1')}`);
    got = Buffer.concat([got, await transport.read(left)]);
  }
  return got;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return (err as TransportError).code;
}

describe('SimTransport (in-process simulated board)', () => {
  it('resets the board into download mode and exchanges a SYNC with its ROM', async () => {
    const { transport } = setup('simt-1');
    expect(transport.name).toBe('sim://simt-1');
    expect(transport.latencyMs).toBe(0);
    expect(transport.atomicSignals).toBe(true);
    await transport.open(115_200);
    expect(transport.isOpen).toBe(true);

    await transport.setSignals({ dtr: false, rts: true }); // EN low: chip held in reset
    await transport.setSignals({ dtr: true, rts: false }); // EN rises with IO0 low: download boot
    await readUntil(transport, (text) => text.includes('waiting for download'));
    await transport.setSignals({ dtr: false });

    await transport.write(SYNC_FRAME);
    const reply = Buffer.from([0xc0, 0x01, 0x08, 0x04, 0x00, 0x07, 0x07, 0x12, 0x20]);
    const got = await readUntil(transport, (bytes) => bytes.includes(reply));
    expect(got.indexOf(reply)).toBeGreaterThanOrEqual(0);
  });

  it('times out reads, honours maxBytes, and flushes input', async () => {
    const { transport } = setup('simt-2');
    await transport.open(115_200);
    await transport.setSignals({ dtr: false, rts: true }); // held in reset: the chip is silent
    await transport.flushInput();
    await expect(codeOf(transport.read(30))).resolves.toBe(FlashErrorCode.TIMEOUT);
    await transport.setSignals({ dtr: true, rts: false });
    const first = await transport.read(3_000, 3);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThanOrEqual(3);
    await readUntil(transport, (text) => text.includes('waiting for download'));
    // Back into reset; whatever was received so far is discarded by the flush.
    await transport.setSignals({ dtr: false, rts: true });
    await transport.flushInput();
    await expect(codeOf(transport.read(30))).resolves.toBe(FlashErrorCode.TIMEOUT);
  });

  it('is exclusive, releases the port on close and after failures, and reopens', async () => {
    const { board, transport } = setup('simt-3');
    await transport.open(115_200);
    const other = new SimTransport(board);
    transports.push(other);
    await expect(codeOf(other.open(115_200))).resolves.toBe(FlashErrorCode.PORT_BUSY);
    const pending = transport.read(5_000);
    await transport.close();
    await expect(codeOf(pending)).resolves.toBe(FlashErrorCode.CANCELLED);
    await transport.close(); // idempotent
    expect(board.isPortOpen).toBe(false);
    await other.open(115_200);
    await other.close();
    await transport.open(921_600);
    expect(transport.baudRate).toBe(921_600);
  });

  it('reports DEVICE_GONE on unplug, PORT_NOT_FOUND while unplugged, and works again after replug', async () => {
    const { board, transport } = setup('simt-4');
    await transport.open(115_200);
    const reasons: Error[] = [];
    transport.onDisconnect((reason) => reasons.push(reason));
    const pending = transport.read(5_000);
    board.unplug();
    await expect(codeOf(pending)).resolves.toBe(FlashErrorCode.DEVICE_GONE);
    expect(reasons).toHaveLength(1);
    expect(transport.isOpen).toBe(false);
    await expect(codeOf(transport.write(Uint8Array.of(1)))).resolves.toBe(FlashErrorCode.DEVICE_GONE);
    await expect(codeOf(transport.open(115_200))).resolves.toBe(FlashErrorCode.PORT_NOT_FOUND);
    board.plug();
    await transport.open(115_200);
    expect(transport.isOpen).toBe(true);
  });

  it('is what openTransport returns for sim:// URLs through the injected resolver', async () => {
    const { board } = setup('simt-5');
    const transport = await openTransport('sim://simt-5', {
      baudRate: 115_200,
      resolveSim: (url) => (url === 'sim://simt-5' ? new SimTransport(board) : undefined),
    });
    transports.push(transport as SimTransport);
    expect(transport).toBeInstanceOf(SimTransport);
    expect(board.isPortOpen).toBe(true);
  });
});
