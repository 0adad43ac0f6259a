/** socket:// — the flasher over a raw TCP serial bridge (no DTR/RTS, fixed UART rate). */
import { afterEach, describe, expect, it } from '@jest/globals';
import { buildFirmwareSet, chipInfo, flash, md5Hex } from '#esp';
import { openTransport, SocketTransport, type TransportError } from '#serial';
import { SimBoard } from '#sim';
import { startRawTcpBridge } from './support/raw-tcp-bridge.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function bridged(chip: 'esp32' | 'esp32c3' = 'esp32'): Promise<{ board: SimBoard; url: string }> {
  const board = new SimBoard({ chip, name: `socket-${cleanups.length}`, timeScale: 0 });
  cleanups.push(() => board.dispose());
  const bridge = await startRawTcpBridge(board);
  cleanups.push(() => bridge.close());
  return { board, url: bridge.url };
}

describe('socket:// transport', () => {
  it('identifies and flashes a board already in download mode, warning once that it cannot reset it', async () => {
    const { board, url } = await bridged('esp32c3');
    const warnings: string[] = [];
    const transport = await openTransport(url, { baudRate: 115_200, onWarning: (m) => warnings.push(m) });
    cleanups.push(() => transport.close());
    expect(transport).toBeInstanceOf(SocketTransport);
    const parts = buildFirmwareSet({
      chip: 'esp32c3',
      projectName: 'bridged',
      version: '1.0.0',
      payloadBytes: 16 * 1024,
    });
    // The bridge's UART stays at 115 200: the flasher must not raise the baud.
    const result = await flash(transport, parts, {
      baud: 115_200,
      resetStrategy: 'no-reset',
      after: 'no-reset',
    });
    expect(result.chip.mac).toBe(board.mac);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    for (const p of parts) expect(md5Hex(board.flash.read(p.offset, p.data.length))).toBe(md5Hex(p.data));
    expect(warnings).toHaveLength(0); // no-reset never touches the lines

    // The same connection, as the stub left it: the default connect tries its resets (which do nothing) and syncs.
    const info = await chipInfo(transport, { after: 'hard-reset' });
    expect(info.chip).toBe('esp32c3');
    expect(warnings).toEqual([expect.stringMatching(/carries no DTR\/RTS: the chip was NOT reset/)]);
  });

  it('reports DEVICE_GONE when the bridge drops the connection, and PORT_NOT_FOUND when nothing listens', async () => {
    const { url } = await bridged();
    const transport = new SocketTransport({ host: '127.0.0.1', port: Number(url.split(':').pop()) });
    cleanups.push(() => transport.close());
    await transport.open(115_200);
    const gone = new Promise<Error>((resolve) => transport.onDisconnect(resolve));
    await cleanups.splice(1, 1)[0](); // close the bridge
    expect(((await gone) as TransportError).code).toBe('DEVICE_GONE');
    await expect(transport.read(1000)).rejects.toMatchObject({ code: 'DEVICE_GONE' });

    const refused = new SocketTransport({ host: '127.0.0.1', port: Number(url.split(':').pop()) });
    await expect(refused.open(115_200)).rejects.toMatchObject({
      code: 'PORT_NOT_FOUND',
      message: expect.stringMatching(/connection refused/),
    });
  });
});
