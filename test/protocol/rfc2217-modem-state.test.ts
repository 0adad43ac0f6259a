/**
 * The simulator's RFC 2217 server reports a board's modem inputs (a fixture's lid switch on CD,
 * CTS or DSR) as RFC 2217 defines NOTIFY-MODEMSTATE: the states in the high nibble, the delta bits
 * for what changed, sent when they change and ANDed with the client's SET-MODEMSTATE-MASK (nothing
 * when that is zero). Our RFC 2217 client over real TCP reads them, byte for byte.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { ModemStateBit, ModemWatch, Rfc2217Transport } from '#serial';
import { type Rfc2217Server, SimBoard, startRfc2217Server } from '#sim';
import { pollUntil } from '../support/poll.js';

let server: Rfc2217Server | undefined;
let board: SimBoard | undefined;
let client: Rfc2217Transport | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  board?.dispose();
  client = server = board = undefined;
});

/** A board behind a server, and a connected client recording every NOTIFY-MODEMSTATE byte. */
async function connected(initial: Partial<Record<'cts' | 'dsr' | 'ri' | 'cd', boolean>> = {}) {
  board = new SimBoard({ chip: 'esp32', name: 'lid-fixture', timeScale: 0 });
  board.setModemInputs(initial);
  server = await startRfc2217Server(board, { port: 0 });
  client = new Rfc2217Transport({ host: '127.0.0.1', port: server.port });
  const notified: number[] = [];
  client.onModemLines((_lines, raw) => notified.push(raw));
  await client.open(115_200);
  // The first report is the one sent when COM-PORT was agreed (during open).
  return { board, client, notified };
}

describe('RFC 2217 NOTIFY-MODEMSTATE from the simulator', () => {
  it('reports the lines when COM-PORT is agreed, then each change with its delta bits', async () => {
    const { board, client, notified } = await connected({ cd: true });
    // CD asserted at agreement: its state bit and its delta (changed from "nothing reported yet").
    expect(client.modemState).toBe(ModemStateBit.CD | ModemStateBit.DELTA_CD);
    expect(client.modemLines).toEqual({ cts: false, dsr: false, ri: false, cd: true });

    const from = notified.length;
    board.setModemInputs({ cd: false }); // lid opened
    board.setModemInputs({ cts: true });
    board.setModemInputs({ cts: true }); // no change: no notification
    board.setModemInputs({ ri: true }); // RI's leading edge has no delta bit
    board.setModemInputs({ ri: false }); // its trailing edge has
    board.setModemInputs({ dsr: true, cd: true });
    await pollUntil(() => notified.length - from >= 5, { what: 'five notifications' });
    expect(notified.slice(from)).toEqual([
      ModemStateBit.DELTA_CD,
      ModemStateBit.CTS | ModemStateBit.DELTA_CTS,
      ModemStateBit.CTS | ModemStateBit.RI,
      ModemStateBit.CTS | ModemStateBit.RI_TRAILING_EDGE,
      ModemStateBit.CTS |
        ModemStateBit.DSR |
        ModemStateBit.CD |
        ModemStateBit.DELTA_DSR |
        ModemStateBit.DELTA_CD,
    ]);
    // A client's poll gets the states without deltas.
    expect(await client.requestModemLines(3_000)).toEqual({ cts: true, dsr: true, ri: false, cd: true });
    expect(client.modemState).toBe(ModemStateBit.CTS | ModemStateBit.DSR | ModemStateBit.CD);
  });

  it('honours SET-MODEMSTATE-MASK: a change is sent ANDed with the mask, and not at all when that is zero', async () => {
    const { board, client, notified } = await connected();
    // Only CD and its delta: the lid's line.
    expect(await client.setModemStateMask(ModemStateBit.CD | ModemStateBit.DELTA_CD)).toBe(0x88);
    const from = notified.length;
    board.setModemInputs({ cts: true }); // masked out entirely (CD is off): nothing on the wire
    board.setModemInputs({ cd: true }); // lid closed
    board.setModemInputs({ dsr: true }); // masked down to the CD state bit, which is on: sent as 0x80
    // The server writes notifications as the change happens; an acknowledged request after them
    // proves by its arrival that nothing else is on the way.
    expect(await client.setModemStateMask(0x00)).toBe(0x00);
    expect(notified.slice(from)).toEqual([ModemStateBit.CD | ModemStateBit.DELTA_CD, ModemStateBit.CD]);

    // Mask zero: every change is silent.
    board.setModemInputs({ cd: false });
    board.setModemInputs({ cts: false });
    expect(await client.setModemStateMask(0xff)).toBe(0xff);
    expect(notified.slice(from)).toHaveLength(2);
    // With the full mask again, the next change carries every line and its own delta.
    board.setModemInputs({ cd: true });
    await pollUntil(() => notified.length - from === 3, { what: 'the change after unmasking' });
    expect(notified.at(-1)).toBe(ModemStateBit.DSR | ModemStateBit.CD | ModemStateBit.DELTA_CD);
  });

  it('a ModemWatch on the client turns a bouncing lid into one debounced change', async () => {
    const { board, client, notified } = await connected();
    const watch = new ModemWatch(client, { line: 'cd', debounceMs: 50 });
    const levels: boolean[] = [];
    watch.onChange((active) => levels.push(active));
    expect(watch.active).toBe(false);
    // Contact bounce: closed, open, closed within a few milliseconds, then it stays.
    board.setModemInputs({ cd: true });
    board.setModemInputs({ cd: false });
    board.setModemInputs({ cd: true });
    await pollUntil(() => levels.length === 1, { what: 'the debounced close' });
    // A blip shorter than the debounce (opened and closed again at once) is no change.
    board.setModemInputs({ cd: false });
    board.setModemInputs({ cd: true });
    board.setModemInputs({ cts: true });
    await pollUntil(
      () => notified.at(-1) === (ModemStateBit.CTS | ModemStateBit.CD | ModemStateBit.DELTA_CTS),
      {
        what: 'the blip and the CTS change to arrive',
      },
    );
    // The blip cancelled its own settling: nothing is waiting to fire, and nothing fired.
    expect(watch.settling).toBe(false);
    expect(levels).toEqual([true]);
    // The inverted wiring (a normally-closed contact) reads the same line the other way round.
    const inverted = new ModemWatch(client, { line: 'cd', inverted: true, debounceMs: 50 });
    expect(inverted.active).toBe(false);
    watch.stop();
    inverted.stop();
  });
});
