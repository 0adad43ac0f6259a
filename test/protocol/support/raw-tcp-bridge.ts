/**
 * A raw TCP serial bridge in front of a simulated board, as ser2net in raw
 * mode or a Wi-Fi serial bridge would be: bytes only, the UART at a fixed
 * 115 200 baud, no modem-control lines. The board is put into download mode
 * through its own port handle first (a person holding BOOT and pressing EN),
 * since nothing over the socket can reset it.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SimBoard } from '#sim';

/** A running bridge: its URL and a close that ends every connection. */
export interface RawTcpBridge {
  url: string;
  close(): Promise<void>;
}

/** Resets `board` into download mode and serves its UART on a free loopback port. */
export async function startRawTcpBridge(board: SimBoard): Promise<RawTcpBridge> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const port = board.openPort();
    port.setBaudRate(115_200);
    const off = port.onData((bytes) => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => port.write(new Uint8Array(chunk)));
    socket.on('close', () => {
      sockets.delete(socket);
      off();
      // Leave the lines as they are: closing would release them and let the chip run its firmware.
      if (port.isOpen) port.close();
    });
    socket.on('error', () => undefined);
  });
  // EN low, then EN released with IO0 low: the ROM waits for download.
  const handle = board.openPort();
  handle.setSignals({ dtr: false, rts: true });
  handle.setSignals({ dtr: true, rts: false });
  await board.waitForConsole(/waiting for download/, 5_000);
  handle.setSignals({ dtr: false, rts: false });
  handle.close();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `socket://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
