/**
 * The flasher over RFC 2217 (TCP) against the simulator's server: the path a
 * remote USB host takes. Timeouts must stretch with the link's latency.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { buildFirmwareSet, flash, type FlashRegion, md5Hex } from '#esp';
import { Rfc2217Transport } from '#serial';
import { SimBoard, type SimBoardOptions, startRfc2217Server } from '#sim';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function remoteBoard(
  options: Partial<SimBoardOptions> = {},
): Promise<{ board: SimBoard; transport: Rfc2217Transport }> {
  const board = new SimBoard({ chip: 'esp32', name: `remote-${cleanups.length}`, timeScale: 0, ...options });
  cleanups.push(() => board.dispose());
  const server = await startRfc2217Server(board, { port: 0 });
  cleanups.push(() => server.close());
  const transport = new Rfc2217Transport({ host: server.host, port: server.port });
  cleanups.push(() => transport.close());
  await transport.open(115200);
  return { board, transport };
}

function holds(board: SimBoard, regions: FlashRegion[]): boolean {
  return regions.every((r) => md5Hex(board.flash.read(r.offset, r.data.length)) === md5Hex(r.data));
}

describe('flasher over RFC 2217', () => {
  it('identifies, flashes three parts and verifies an ESP32-S3 through the network server', async () => {
    const { board, transport } = await remoteBoard({ chip: 'esp32s3' });
    const parts = buildFirmwareSet({
      chip: 'esp32s3',
      projectName: 'remote',
      version: '0.9.0',
      payloadBytes: 64 * 1024,
    });
    const result = await flash(transport, parts);
    expect(result.chip.chip).toBe('esp32s3');
    expect(result.chip.mac).toBe(board.mac);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expect(holds(board, parts)).toBe(true);
  });

  it('copes with link latency (20 ms each way): connects, loads the stub and flashes', async () => {
    const { board, transport } = await remoteBoard({ faults: { latencyMs: 20 } });
    const parts = buildFirmwareSet({
      chip: 'esp32',
      projectName: 'slowlink',
      version: '1.0.0',
      payloadBytes: 32 * 1024,
    });
    const result = await flash(transport, parts);
    expect(result.usedStub).toBe(true);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expect(holds(board, parts)).toBe(true);
  });
});
