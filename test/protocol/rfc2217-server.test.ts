import { afterEach, describe, expect, it } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { type SimPortHandle, startRfc2217Server, type Rfc2217Server } from '#sim';
import { pollUntil } from '../support/poll.js';

// The server on its own, seen from a raw TCP client: exact negotiation bytes,
// acknowledgements, line changes reaching the board, one client at a time,
// unplug and replug. The board here is a minimal SimPortHandle provider that
// records what reaches it and answers every byte with its bitwise complement.

const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const WILL = 0xfb;
const DO = 0xfd;
const COM_PORT = 0x2c;

class RecordingBoard {
  readonly name = 'rec-1';
  readonly signals: Array<{ dtr?: boolean; rts?: boolean }> = [];
  /** The same changes with the time (performance.now()) they reached the board. */
  readonly timed: Array<{ at: number; dtr?: boolean; rts?: boolean }> = [];
  readonly bauds: number[] = [];
  readonly received: number[] = [];
  plugged = true;
  private handle: (SimPortHandle & { drop(err: Error): void }) | undefined;

  openPort(): SimPortHandle {
    if (!this.plugged) throw Object.assign(new Error('sim://rec-1 was unplugged'), { code: 'SIM_UNPLUGGED' });
    if (this.handle?.isOpen)
      throw Object.assign(new Error('sim://rec-1 is already open'), { code: 'SIM_PORT_BUSY' });
    const data = new Set<(bytes: Uint8Array) => void>();
    const gone = new Set<(err: Error) => void>();
    let open = true;
    let baud = 115_200;
    const handle = {
      write: (bytes: Uint8Array): void => {
        this.received.push(...bytes);
        const answer = bytes.map((byte) => byte ^ 0xff);
        setImmediate(() => data.forEach((listener) => listener(answer)));
      },
      onData: (listener: (bytes: Uint8Array) => void) => (data.add(listener), () => data.delete(listener)),
      setSignals: (signals: { dtr?: boolean; rts?: boolean }): void => {
        this.signals.push({ ...signals });
        this.timed.push({ at: performance.now(), ...signals });
      },
      setBaudRate: (rate: number): void => {
        baud = rate;
        this.bauds.push(rate);
      },
      get baudRate() {
        return baud;
      },
      onDisconnect: (listener: (err: Error) => void) => (gone.add(listener), () => gone.delete(listener)),
      close: (): void => {
        open = false;
      },
      get isOpen() {
        return open;
      },
      drop: (err: Error): void => {
        open = false;
        gone.forEach((listener) => listener(err));
      },
    };
    this.handle = handle;
    return handle;
  }

  get portOpen(): boolean {
    return this.handle?.isOpen ?? false;
  }

  unplug(): void {
    this.plugged = false;
    this.handle?.drop(new Error('sim://rec-1 was unplugged'));
  }
}

/** A raw TCP client that collects everything the server sends. */
class RawClient {
  readonly bytes: number[] = [];
  closed = false;
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(...chunk);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: number[]): void {
    this.socket.write(Uint8Array.from(bytes));
  }

  /** Waits (event-driven, with a deadline) until the collected bytes satisfy done. */
  until(done: (bytes: number[]) => boolean, what: string, timeoutMs = 2_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; got ${hex(this.bytes)}`)),
        timeoutMs,
      );
      const check = (): void => {
        if (done(this.bytes)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  untilClosed(timeoutMs = 2_000): Promise<void> {
    return this.until(() => this.closed, 'the connection to close', timeoutMs);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

function hex(bytes: number[]): string {
  return Buffer.from(bytes).toString('hex');
}

function contains(haystack: number[], needle: number[]): boolean {
  return hex(haystack).includes(hex(needle));
}

function occurrences(haystack: number[], needle: number[]): number {
  return hex(haystack).split(hex(needle)).length - 1;
}

const sb = (code: number, ...value: number[]): number[] => [IAC, SB, COM_PORT, code, ...value, IAC, SE];

let server: Rfc2217Server | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.socket.destroy();
  await server?.close();
  server = undefined;
});

async function start(
  board: RecordingBoard,
  resetMode: 'local' | 'pass-through' = 'pass-through',
): Promise<Rfc2217Server> {
  server = await startRfc2217Server(board, { port: 0, resetMode });
  return server;
}

async function client(port: number): Promise<RawClient> {
  const raw = await RawClient.open(port);
  clients.push(raw);
  return raw;
}

describe('RFC 2217 server for a simulated board', () => {
  it('binds to 127.0.0.1 and opens with WILL ECHO, WILL SGA, DO BINARY, WILL COM-PORT', async () => {
    const board = new RecordingBoard();
    const { url, port } = await start(board);
    expect(url).toBe(`rfc2217://127.0.0.1:${port}`);
    const raw = await client(port);
    const opening = [IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 0, IAC, WILL, COM_PORT];
    await raw.until((bytes) => bytes.length >= opening.length, 'the opening offers');
    expect(hex(raw.bytes.slice(0, opening.length))).toBe(hex(opening));
    expect(board.portOpen).toBe(true);
  });

  it('agrees to the client options and sends NOTIFY-MODEMSTATE when COM-PORT is agreed', async () => {
    const raw = await client((await start(new RecordingBoard())).port);
    raw.send([IAC, WILL, COM_PORT, IAC, DO, COM_PORT, IAC, DO, 0, IAC, WILL, 0x18 /* TTYPE: unsupported */]);
    await raw.until((bytes) => contains(bytes, [IAC, DO, COM_PORT]), 'DO COM-PORT');
    await raw.until((bytes) => contains(bytes, sb(107, 0)), 'NOTIFY-MODEMSTATE');
    await raw.until((bytes) => contains(bytes, [IAC, WILL, 0]), 'WILL BINARY');
    await raw.until((bytes) => contains(bytes, [IAC, 0xfe, 0x18]), 'DONT TTYPE');
  });

  it('acknowledges every SET-* with code + 100 and the applied value, and applies baud and lines to the board', async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board)).port);
    // 921600 = 0x000E1000; 8 data bits; parity none; 1 stop bit; DTR on; RTS on; DTR off; RTS off; purge both.
    raw.send([
      ...sb(1, 0x00, 0x0e, 0x10, 0x00),
      ...sb(2, 8),
      ...sb(3, 1),
      ...sb(4, 1),
      ...sb(5, 8),
      ...sb(5, 11),
      ...sb(5, 9),
      ...sb(5, 12),
      ...sb(12, 3),
    ]);
    const acks = [
      sb(101, 0x00, 0x0e, 0x10, 0x00),
      sb(102, 8),
      sb(103, 1),
      sb(104, 1),
      sb(105, 8),
      sb(105, 11),
      sb(105, 9),
      sb(105, 12),
      sb(112, 3),
    ];
    await raw.until((bytes) => contains(bytes, acks.flat()), 'all nine acknowledgements in order');
    expect(board.bauds).toEqual([921_600]);
    expect(board.signals).toEqual([{ dtr: true }, { rts: true }, { dtr: false }, { rts: false }]);
  });

  it("confirms flow-control settings as pyserial's server does: 3 (RTS/CTS) → 3, and a request (0) reports it", async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board)).port);
    raw.send([...sb(5, 3), ...sb(5, 0), ...sb(5, 2), ...sb(5, 1), ...sb(5, 0)]);
    await raw.until(
      (bytes) => contains(bytes, [...sb(105, 3), ...sb(105, 3), ...sb(105, 2), ...sb(105, 1), ...sb(105, 1)]),
      'each flow-control value confirmed, then the current one reported',
    );
    expect(board.signals).toEqual([]);
  });

  it('answers a baud query (0) with the current baud and reports line state requests', async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board)).port);
    raw.send([...sb(1, 0, 0, 0, 0), ...sb(5, 8), ...sb(5, 7), ...sb(5, 10)]);
    // 115200 = 0x0001C200
    await raw.until(
      (bytes) =>
        contains(bytes, [...sb(101, 0x00, 0x01, 0xc2, 0x00), ...sb(105, 8), ...sb(105, 8), ...sb(105, 12)]),
      'baud and line state answers',
    );
    expect(board.bauds).toEqual([]);
  });

  it('passes data both ways with 0xFF doubled on the wire', async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board)).port);
    // Client sends 00 FF 7F (FF doubled); the board answers FF 00 80 (FF doubled by the server).
    raw.send([0x00, IAC, IAC, 0x7f]);
    await raw.until((bytes) => contains(bytes, [IAC, IAC, 0x00, 0x80]), 'the escaped answer');
    expect(board.received).toEqual([0x00, 0xff, 0x7f]);
  });

  it('refuses a second client with a message and keeps the first', async () => {
    const board = new RecordingBoard();
    const { port } = await start(board);
    const first = await client(port);
    await first.until((bytes) => bytes.length >= 12, 'the opening offers');
    const second = await client(port);
    await second.untilClosed();
    expect(Buffer.from(second.bytes).toString()).toMatch(/rec-1 is in use by another client/);
    first.send([0x41]);
    await first.until((bytes) => bytes.includes(0x41 ^ 0xff), 'the first client still served');
  });

  it('drops the connection on unplug, refuses while unplugged, and accepts again once plugged back', async () => {
    const board = new RecordingBoard();
    const { port } = await start(board);
    const first = await client(port);
    await first.until((bytes) => bytes.length >= 12, 'the opening offers');
    board.unplug();
    await first.untilClosed();

    const whileUnplugged = await client(port);
    await whileUnplugged.untilClosed();
    expect(Buffer.from(whileUnplugged.bytes).toString()).toMatch(/unplugged/);

    board.plugged = true;
    const again = await client(port);
    await again.until((bytes) => bytes.length >= 12, 'the opening offers after replug');
    expect(board.portOpen).toBe(true);
  });

  it('releases the port when the client leaves, so the next client gets it at once', async () => {
    const board = new RecordingBoard();
    const { port } = await start(board);
    const first = await client(port);
    await first.until((bytes) => bytes.length >= 12, 'the opening offers');
    first.socket.end();
    await first.untilClosed();
    expect(board.portOpen).toBe(false);
    const second = await client(port);
    await second.until((bytes) => bytes.length >= 12, 'the opening offers for the next client');
  });

  it('says so when the TCP port is taken', async () => {
    const board = new RecordingBoard();
    const { port } = await start(board);
    await expect(startRfc2217Server(new RecordingBoard(), { port })).rejects.toThrow(/already in use/);
  });
});

describe('RFC 2217 server, local reset (esp_rfc2217_server)', () => {
  it("DTR on runs esptool's UnixTightReset on the server; the rest of ClassicReset's pattern is dropped; DTR off ends it", async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board, 'local')).port);
    // esptool's ClassicReset over RFC 2217: D0, R1 (+D0), D1, R0 (+D1); each change is acknowledged.
    raw.send([...sb(5, 9), ...sb(5, 11), ...sb(5, 9), ...sb(5, 8), ...sb(5, 12), ...sb(5, 8)]);
    await raw.until(
      (bytes) =>
        contains(bytes, [
          ...sb(105, 9),
          ...sb(105, 11),
          ...sb(105, 9),
          ...sb(105, 8),
          ...sb(105, 12),
          ...sb(105, 8),
        ]),
      'every change confirmed',
    );
    const sequence = [
      { dtr: false, rts: false },
      { dtr: true, rts: true },
      { dtr: false, rts: true },
      { dtr: true, rts: false },
      { dtr: false, rts: false },
      { dtr: false },
    ];
    await pollUntil(() => board.signals.length >= 2 + sequence.length, { what: 'the local reset sequence' });
    expect(board.signals).toEqual([{ dtr: false }, { dtr: false }, ...sequence]);
    // EN held low for 100 ms, IO0 held low for 50 ms after EN's release (reset.py timings).
    const at = board.timed.slice(2).map((t) => t.at);
    expect(at[3] - at[2]).toBeGreaterThanOrEqual(95);
    expect(at[4] - at[3]).toBeGreaterThanOrEqual(45);
    raw.send(sb(5, 9));
    await pollUntil(() => board.signals.length === 2 + sequence.length + 1, { what: 'DTR off applied' });
    expect(board.signals.at(-1)).toEqual({ dtr: false });
  });

  it("RTS falling outside a download reset runs HardReset on the server; esptool-js's combined release does not", async () => {
    const board = new RecordingBoard();
    const raw = await client((await start(board, 'local')).port);
    // esptool's HardReset: R1, wait, R0.
    raw.send([...sb(5, 11), ...sb(5, 12)]);
    await pollUntil(() => board.signals.length >= 2, { what: 'the local hard reset' });
    expect(board.signals).toEqual([{ rts: true }, { rts: false }]);
    expect(board.timed[1].at - board.timed[0].at).toBeGreaterThanOrEqual(95);

    // esptool-js 0.7.0 ClassicReset through a transport that sends DTR then RTS per update:
    // (D0,R1), (D1,R0), then (D0,R0): RTS was already off, so no hard reset follows the loader.
    board.signals.length = 0;
    raw.send([...sb(5, 9), ...sb(5, 11), ...sb(5, 8), ...sb(5, 12)]);
    await pollUntil(() => board.signals.length >= 7, { what: 'the local download reset' });
    raw.send([...sb(5, 9), ...sb(5, 12), ...sb(5, 7)]);
    // Two DTR-off acknowledgements so far; the third 105/9 answers the DTR request sent after RTS off.
    await raw.until((bytes) => occurrences(bytes, sb(105, 9)) >= 3, 'the DTR request answered');
    await pollUntil(() => board.signals.length >= 8, { what: 'DTR off applied' });
    expect(board.signals).toEqual([
      { dtr: false },
      { dtr: false, rts: false },
      { dtr: true, rts: true },
      { dtr: false, rts: true },
      { dtr: true, rts: false },
      { dtr: false, rts: false },
      { dtr: false },
      { dtr: false },
    ]);
  });
});
