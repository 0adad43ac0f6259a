import { holdFor } from '../support/stimulus.js';
import { startDelayProxy } from './support/delay-proxy.js';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type AddressInfo } from 'node:net';
import { FlashErrorCode } from '#contracts';
import { openTransport, parseRfc2217Url, Rfc2217Transport, TransportError } from '#serial';
import { SimBoard, type SimPortHandle, startRfc2217Server, type Rfc2217Server } from '#sim';
import { pollUntil } from '../support/poll.js';

// Our RFC 2217 client against our RFC 2217 server (and against small raw
// servers where a misbehaving peer is the point). The board records what
// reaches it and echoes every byte back unchanged.

class EchoBoard {
  readonly signals: Array<{ dtr?: boolean; rts?: boolean }> = [];
  readonly bauds: number[] = [];
  readonly received: number[] = [];
  plugged = true;
  private drop: ((err: Error) => void) | undefined;
  private open = false;

  constructor(readonly name: string) {}

  openPort(): SimPortHandle {
    if (!this.plugged) throw new Error(`sim://${this.name} was unplugged`);
    if (this.open) throw new Error(`sim://${this.name} is already open`);
    this.open = true;
    const data = new Set<(bytes: Uint8Array) => void>();
    const gone = new Set<(err: Error) => void>();
    let baud = 115_200;
    const isOpen = (): boolean => this.open;
    this.drop = (err) => {
      this.open = false;
      gone.forEach((listener) => listener(err));
    };
    return {
      write: (bytes) => {
        this.received.push(...bytes);
        const copy = bytes.slice();
        setImmediate(() => data.forEach((listener) => listener(copy)));
      },
      onData: (listener) => (data.add(listener), () => data.delete(listener)),
      setSignals: (signals) => void this.signals.push({ ...signals }),
      setBaudRate: (rate) => {
        baud = rate;
        this.bauds.push(rate);
      },
      get baudRate() {
        return baud;
      },
      onDisconnect: (listener) => (gone.add(listener), () => gone.delete(listener)),
      close: () => {
        this.open = false;
      },
      get isOpen() {
        return isOpen();
      },
    };
  }

  get portOpen(): boolean {
    return this.open;
  }

  unplug(): void {
    this.plugged = false;
    this.drop?.(new Error(`sim://${this.name} was unplugged`));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(board: EchoBoard): Promise<Rfc2217Server> {
  // The lines as they arrive (pyserial's PortManager): these tests are about the client.
  const server = await startRfc2217Server(board, { port: 0, resetMode: 'pass-through' });
  cleanups.push(() => server.close());
  return server;
}

function track<T extends { close(): Promise<void> }>(transport: T): T {
  cleanups.push(() => transport.close());
  return transport;
}

async function readExactly(
  transport: Rfc2217Transport,
  count: number,
  timeoutMs = 2_000,
): Promise<Uint8Array> {
  const out: number[] = [];
  while (out.length < count) out.push(...(await transport.read(timeoutMs, count - out.length)));
  return Uint8Array.from(out);
}

async function expectCode(promise: Promise<unknown>, code: FlashErrorCode): Promise<TransportError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  expect((err as TransportError).code).toBe(code);
  return err as TransportError;
}

describe('RFC 2217 client (Rfc2217Transport)', () => {
  it('parses rfc2217 URLs with pyserial options', () => {
    expect(parseRfc2217Url('rfc2217://10.0.0.5:4000?ign_set_control&timeout=5')).toEqual({
      host: '10.0.0.5',
      port: 4000,
      ignoreSetControlAck: true,
      networkTimeoutMs: 5000,
    });
    expect(parseRfc2217Url('rfc2217://[::1]:4000/ign_set_control')).toEqual({
      host: '::1',
      port: 4000,
      ignoreSetControlAck: true,
    });
    expect(() => parseRfc2217Url('rfc2217://host')).toThrow(/expected rfc2217/);
    expect(() => parseRfc2217Url('rfc2217://host:4000?bogus')).toThrow(/unknown option "bogus"/);
  });

  it('opens with the requested baud and 8N1, and carries baud and DTR/RTS changes to the board', async () => {
    const board = new EchoBoard('esp-a');
    const { url } = await serve(board);
    const transport = track(await openTransport(url, { baudRate: 115_200 }));
    expect(transport.name).toBe(url);
    expect(transport.isOpen).toBe(true);
    expect(transport.atomicSignals).toBe(false);
    expect(board.bauds).toEqual([115_200]);

    // esptool's Classic reset step by step, with the DTR rewrite after each RTS change (reference §9.5).
    await transport.setSignals({ dtr: false });
    await transport.setSignals({ rts: true });
    await transport.setSignals({ dtr: false });
    await transport.setSignals({ dtr: true });
    await transport.setSignals({ rts: false });
    await transport.setSignals({ dtr: true });
    await transport.setSignals({ dtr: false });
    // Each change was acknowledged before setSignals resolved, so the board already has all of them.
    expect(board.signals).toEqual([
      { dtr: false },
      { rts: true },
      { dtr: false },
      { dtr: true },
      { rts: false },
      { dtr: true },
      { dtr: false },
    ]);

    await transport.setBaudRate(921_600);
    expect(transport.baudRate).toBe(921_600);
    expect(board.bauds).toEqual([115_200, 921_600]);
  });

  it('survives frames full of 0xFF in both directions', async () => {
    const board = new EchoBoard('esp-ff');
    const { url } = await serve(board);
    const transport = track(new Rfc2217Transport(parseRfc2217Url(url)));
    await transport.open(115_200);
    const frame = new Uint8Array(4096);
    for (let i = 0; i < frame.length; i++) frame[i] = i % 3 === 0 ? 0x00 : 0xff;
    frame.fill(0xff, 1000, 2000);
    await transport.write(frame);
    const echoed = await readExactly(transport, frame.length);
    expect(Buffer.from(echoed).equals(Buffer.from(frame))).toBe(true);
    expect(Buffer.from(board.received).equals(Buffer.from(frame))).toBe(true);
  });

  it('reads with a deadline: TIMEOUT when nothing comes, maxBytes respected, flushInput discards', async () => {
    const board = new EchoBoard('esp-t');
    const { url } = await serve(board);
    const transport = track(await openTransport(url, { baudRate: 115_200 }));
    const started = performance.now();
    await expectCode(transport.read(80), FlashErrorCode.TIMEOUT);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);

    await transport.write(Uint8Array.of(1, 2, 3, 4, 5));
    const first = await transport.read(1000, 2);
    expect([...first]).toEqual([1, 2]);
    await readExactly(transport as Rfc2217Transport, 3);

    await transport.write(Uint8Array.of(9, 9, 9));
    await transport.flushInput();
    await expectCode(transport.read(50), FlashErrorCode.TIMEOUT);
  });

  it('measures the link RTT during negotiation and keeps it smoothed from acks', async () => {
    const board = new EchoBoard('esp-slow');
    const { port } = await serve(board);
    const delayMs = 40;
    const proxy = await startDelayProxy(port, delayMs);
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const transport = track(await openTransport(`rfc2217://127.0.0.1:${proxyPort}`, { baudRate: 115_200 }));
    // One round trip crosses the proxy twice.
    expect(transport.latencyMs).toBeGreaterThanOrEqual(2 * delayMs * 0.9);
    expect(transport.latencyMs).toBeLessThan(2 * delayMs * 4);
    // Each acknowledged request costs one round trip and nothing more (no polling interval);
    // the fastest of a few is taken so a busy machine's timer lag does not blur the figure.
    const acks: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await transport.setSignals({ dtr: i % 2 === 0 });
      acks.push(performance.now() - started);
    }
    expect(Math.min(...acks)).toBeGreaterThanOrEqual(2 * delayMs * 0.9);
    expect(Math.min(...acks)).toBeLessThan(2 * delayMs + 30);
    expect(transport.latencyMs).toBeGreaterThanOrEqual(2 * delayMs * 0.9);
  });

  it('sends both lines of one setSignals in a burst, so a reset over a slow link still reaches download mode', async () => {
    // EN latches the straps 5 ms after it rises; the link adds 25 ms each way.
    const board = new SimBoard({ chip: 'esp32', name: 'slow-reset', timeScale: 0.01, enRiseMs: 5 });
    cleanups.push(() => board.dispose());
    // A plain remote serial port (ser2net-like): each line change crosses the link by itself.
    const server = await startRfc2217Server(board, { port: 0, resetMode: 'pass-through' });
    cleanups.push(() => server.close());
    const proxy = await startDelayProxy(server.port, 25);
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const transport = track(
      await openTransport(`rfc2217://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
        baudRate: 115_200,
      }),
    );

    // One line per call: (D1,R1) lasts a round trip, EN rises with IO0 high, the chip boots
    // from flash: the failure of esptool issue #383 (reference §8 row 8).
    board.clearConsole();
    await transport.setSignals({ dtr: false, rts: true });
    await transport.setSignals({ dtr: true });
    await transport.setSignals({ rts: false });
    await board.waitForConsole(/rst:0x1 \(POWERON_RESET\),boot:0x1[0-9a-f]/, 5_000);
    expect(board.console).not.toContain('waiting for download');

    // Both lines in one call: applied back to back at the server, the loader is reached.
    board.clearConsole();
    await transport.setSignals({ dtr: false, rts: true });
    await transport.setSignals({ dtr: true, rts: false });
    await board.waitForConsole(/waiting for download/, 5_000);
  });

  it('with the server resetting locally (esp_rfc2217_server), the same one-line-per-call reset reaches download mode', async () => {
    const board = new SimBoard({ chip: 'esp32', name: 'local-reset', timeScale: 0.01, enRiseMs: 5 });
    cleanups.push(() => board.dispose());
    const server = await startRfc2217Server(board, { port: 0, resetMode: 'local' });
    cleanups.push(() => server.close());
    const proxy = await startDelayProxy(server.port, 25);
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const transport = track(
      await openTransport(`rfc2217://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
        baudRate: 115_200,
      }),
    );
    // esptool's ClassicReset over the link: D0 · R1 · W100 · D1 · R0 · W50 · D0, each a round trip.
    board.clearConsole();
    await transport.setSignals({ dtr: false });
    await transport.setSignals({ rts: true });
    await holdFor(100);
    await transport.setSignals({ dtr: true });
    await transport.setSignals({ rts: false });
    await holdFor(50);
    await transport.setSignals({ dtr: false });
    await board.waitForConsole(/waiting for download/, 5_000);
    // (Blank flash: the boot loop before the reset is in the console too.)
    expect(board.console.split('rst:').at(-1)).toContain('DOWNLOAD_BOOT');
    expect(board.mode).toBe('rom');
  });

  it('reports DEVICE_GONE and calls onDisconnect when the board is unplugged', async () => {
    const board = new EchoBoard('esp-u');
    const { url } = await serve(board);
    const transport = track(await openTransport(url, { baudRate: 115_200 }));
    const reasons: Error[] = [];
    transport.onDisconnect((reason) => reasons.push(reason));
    const pending = transport.read(5_000);
    board.unplug();
    await expectCode(pending, FlashErrorCode.DEVICE_GONE);
    expect(reasons).toHaveLength(1);
    expect((reasons[0] as TransportError).code).toBe(FlashErrorCode.DEVICE_GONE);
    expect(transport.isOpen).toBe(false);
    await expectCode(transport.write(Uint8Array.of(1)), FlashErrorCode.DEVICE_GONE);
  });

  it('releases the port on close, on error and on a refused open, so it can be reopened each time', async () => {
    const board = new EchoBoard('esp-r');
    const { url } = await serve(board);

    // Success, then close: the server's port is free again as soon as close() resolves.
    const first = await openTransport(url, { baudRate: 115_200 });
    await first.close();
    expect(board.portOpen).toBe(false);
    await first.close(); // idempotent

    // The same transport object reopens.
    await first.open(115_200);
    expect(board.portOpen).toBe(true);
    // A second client is refused: PORT_BUSY naming the cause.
    const err = await expectCode(openTransport(url, { baudRate: 115_200 }), FlashErrorCode.PORT_BUSY);
    expect(err.message).toMatch(/in use by another client/);
    await first.close();

    // After an error (unplug while open) and replug, it opens again.
    const second = track(await openTransport(url, { baudRate: 115_200 }));
    board.unplug();
    await expectCode(second.read(2_000), FlashErrorCode.DEVICE_GONE);
    await expectCode(openTransport(url, { baudRate: 115_200 }), FlashErrorCode.PORT_NOT_FOUND);
    board.plugged = true;
    await second.close();
    await second.open(115_200);
    await second.write(Uint8Array.of(0x42));
    expect([...(await second.read(1000))]).toEqual([0x42]);
  });

  it('cancels an open in flight on close() and releases the port; a read pending at close() is CANCELLED', async () => {
    const board = new EchoBoard('esp-c');
    const { port } = await serve(board);
    const proxy = await startDelayProxy(port, 30);
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const url = `rfc2217://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const transport = track(new Rfc2217Transport(parseRfc2217Url(url)));

    const opening = transport.open(115_200);
    // Wait until the server holds the board, i.e. the open is mid-negotiation.
    await pollUntil(() => board.portOpen, {
      timeoutMs: 2_000,
      intervalMs: 5,
      what: 'the server to open the board',
    });
    await transport.close();
    await expectCode(opening, FlashErrorCode.CANCELLED);
    expect(transport.isOpen).toBe(false);
    // The relay in between hides when the server let go; wait for the board's port to be free.
    await pollUntil(() => !board.portOpen, {
      timeoutMs: 2_000,
      intervalMs: 5,
      what: "the board's port to be free",
    });

    // Directly (no relay): a read pending at close() is CANCELLED, and the port reopens at once.
    const direct = track(new Rfc2217Transport({ host: '127.0.0.1', port }));
    await direct.open(115_200);
    const pending = direct.read(5_000);
    await direct.close();
    await expectCode(pending, FlashErrorCode.CANCELLED);
    await direct.open(115_200);
    expect(direct.isOpen).toBe(true);
  });

  it('says what to do when nothing listens at the address', async () => {
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const port = (unused.address() as AddressInfo).port;
    await new Promise<void>((resolve) => unused.close(() => resolve()));
    const err = await expectCode(
      openTransport(`rfc2217://127.0.0.1:${port}`, { baudRate: 115_200 }),
      FlashErrorCode.PORT_NOT_FOUND,
    );
    expect(err.message).toMatch(/connection refused/);
  });

  it('with ign_set_control, does not wait for SET-CONTROL acks (esp_rfc2217_server never sends them)', async () => {
    // A server that acks everything except SET-CONTROL, like esp_rfc2217_server.
    const seen: number[][] = [];
    const silent = createServer((socket) => {
      socket.write(Uint8Array.of(0xff, 0xfb, 0x2c, 0xff, 0xfd, 0x2c));
      let pending: number[] = [];
      socket.on('data', (chunk: Buffer) => {
        pending.push(...chunk);
        for (;;) {
          const start = pending.findIndex((b, i) => b === 0xff && pending[i + 1] === 0xfa);
          const end = pending.findIndex((b, i) => i > start && b === 0xff && pending[i + 1] === 0xf0);
          if (start < 0 || end < 0) break;
          const body = pending.slice(start + 3, end);
          pending = pending.slice(end + 2);
          seen.push(body);
          if (body[0] !== 5)
            socket.write(Uint8Array.from([0xff, 0xfa, 0x2c, body[0] + 100, ...body.slice(1), 0xff, 0xf0]));
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as AddressInfo).port;

    const patient = new Rfc2217Transport({ host: '127.0.0.1', port, networkTimeoutMs: 150 });
    cleanups.push(() => patient.close());
    const err = await expectCode(patient.open(115_200), FlashErrorCode.TIMEOUT);
    expect(err.message).toMatch(/ign_set_control/);

    seen.length = 0;
    const transport = track(
      await openTransport(`rfc2217://127.0.0.1:${port}?ign_set_control`, { baudRate: 115_200 }),
    );
    await transport.setSignals({ dtr: false, rts: true });
    const controls = () => seen.filter((body) => body[0] === 5).map((body) => body[1]);
    await pollUntil(() => controls().length >= 3, {
      timeoutMs: 2_000,
      intervalMs: 10,
      what: 'three control frames',
    });
    // no-flow-control at open, then DTR off and RTS on
    expect(controls()).toEqual([1, 9, 11]);
  });
});
