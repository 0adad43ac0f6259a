import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { SimBoard, simTesting, slipEncode } from '#sim';
import { pollUntil } from '../support/poll.js';
import { holdFor } from '../support/stimulus.js';

const { HostClient, concat, le32, request, xorChecksum } = simTesting;
type HostClient = simTesting.HostClient;

/** Seeded PRNG (mulberry32) so a failure replays exactly. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Opcodes the fuzzer picks from. Commands that legitimately leave the
 * loader or change the line (FLASH_END/DEFL_END, MEM_END, CHANGE_BAUDRATE,
 * RUN_USER_CODE) are left out, so the board must still answer correctly at the end.
 */
const OPS = [
  0x02, 0x03, 0x05, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0d, 0x0e, 0x10, 0x11, 0x13, 0x14, 0xd0, 0xd1, 0xd2, 0x00,
  0x01, 0x30, 0x99, 0xff,
];
const FLASH_BYTES = 4 * 1024 * 1024;

/** n random bytes; long runs are a repeated byte with a few random ones sprinkled in (cheap, still hostile). */
function randomBytes(rand: () => number, n: number): Uint8Array {
  const r = (k: number): number => Math.floor(rand() * k);
  const out = new Uint8Array(n);
  if (n <= 64) {
    for (let i = 0; i < n; i++) out[i] = r(256);
    return out;
  }
  out.fill(r(256));
  for (let i = 0; i < 32; i++) out[r(n)] = r(256);
  return out;
}

function randomFrame(rand: () => number): Uint8Array {
  const r = (n: number): number => Math.floor(rand() * n);
  const kind = r(10);
  if (kind === 0) {
    // Raw line noise, including delimiters and escapes.
    return Uint8Array.from({ length: 1 + r(64) }, () => [0xc0, 0xdb, 0xdc, 0xdd][r(8)] ?? r(256));
  }
  const op = OPS[r(OPS.length)];
  let body: Uint8Array;
  if (kind < 6) {
    // Plausible bodies: small words, flash addresses inside and just outside the chip.
    const words = Array.from(
      { length: r(7) },
      () =>
        [0, 1, 0x400, 0x1000, 0x4000, FLASH_BYTES - 0x1000, FLASH_BYTES + 4, 0xffffffff, r(0x10000)][r(9)],
    );
    body = le32(...words);
  } else {
    body = randomBytes(rand, r(kind === 9 ? 20000 : 300));
  }
  if ((op === 0x03 || op === 0x07 || op === 0x11) && rand() < 0.5) {
    const data = randomBytes(rand, r(0x500));
    body = concat(le32(data.length + (rand() < 0.2 ? 1 : 0), r(3), 0, 0), data);
    const pkt = request(op, body, rand() < 0.8 ? xorChecksum(data) : r(256));
    return slipEncode(pkt);
  }
  const pkt = request(op, body, r(256));
  if (rand() < 0.1) pkt[0] = r(256);
  if (rand() < 0.1) pkt[2] = r(256);
  const framed = slipEncode(pkt);
  // Sometimes cut a frame short or glue two together.
  if (rand() < 0.05) return framed.subarray(0, r(framed.length));
  return framed;
}

async function fuzz(host: HostClient, seed: number, frames: number): Promise<void> {
  const rand = prng(seed);
  for (let i = 0; i < frames; i++) {
    host.writeRaw(randomFrame(rand));
    // Pace the producer so the chip works through the backlog now and then, as a real line would.
    if (i % 200 === 199) await holdFor(5);
    if (i % 50 === 0) host.flush();
  }
}

/**
 * One delimiter ends any partial frame; then the wait for the board to go quiet (nothing on either
 * line, no command queued or running): every answer to the storm is in, and the flush drops it.
 */
async function fence(board: SimBoard, host: HostClient): Promise<void> {
  host.writeRaw(Uint8Array.of(0xc0, 0xc0));
  await pollUntil(() => board.quiet, { timeoutMs: 10_000, intervalMs: 5, what: 'the board to go quiet' });
  host.flush();
}

/** After the storm: nothing inside the simulator threw, and the loader answers correctly. */
async function stillAnswers(
  board: SimBoard,
  host: HostClient,
  expectedSyncValue: (v: number) => boolean,
): Promise<void> {
  await fence(board, host);
  expect(board.internalErrors).toEqual([]);
  const replies = await host.sync();
  expect(replies.every((r) => expectedSyncValue(r.value))).toBe(true);
  expect((await host.command(0x0a, le32(0x40001000))).value).toBe(0x00f01d83);
}

const boards: SimBoard[] = [];
afterEach(() => {
  for (const b of boards.splice(0)) b.dispose();
});

describe('randomised input never breaks the simulator', () => {
  it('ROM loader: 4000 random frames and noise, then correct answers', async () => {
    const board = new SimBoard({ chip: 'esp32', timeScale: 0 });
    boards.push(board);
    const host = new HostClient(board.openPort());
    await host.enterBootloader();
    await fuzz(host, 0x5eed1, 4000);
    await stillAnswers(board, host, (v) => v === 0x20120707);
    expect(board.mode).toBe('rom');
  }, 60_000);

  it('stub: 4000 random frames and noise, then correct answers', async () => {
    const board = new SimBoard({ chip: 'esp32', timeScale: 0 });
    boards.push(board);
    const host = new HostClient(board.openPort());
    await host.enterBootloader();
    const dir = join(
      dirname(createRequire(import.meta.url).resolve('esptool-js')),
      'targets',
      'stub_flasher',
    );
    const json = JSON.parse(readFileSync(join(dir, 'esp32.json'), 'utf8')) as {
      entry: number;
      text: string;
      text_start: number;
      data: string;
      data_start: number;
    };
    await host.runRamCode(
      [
        { address: json.text_start, data: new Uint8Array(Buffer.from(json.text, 'base64')) },
        { address: json.data_start, data: new Uint8Array(Buffer.from(json.data, 'base64')) },
      ],
      json.entry,
    );
    expect(board.mode).toBe('stub');
    await fuzz(host, 0x5eed2, 4000);
    // A deferred error may still be pending: it answers exactly one command, this one.
    await fence(board, host);
    await host.command(0x0a, le32(0));
    await stillAnswers(board, host, (v) => v === 0);
    expect(board.mode).toBe('stub');
  }, 60_000);

  it('raw bytes alone (no framing at all) in both baud-matched and mismatched conditions', async () => {
    const board = new SimBoard({ chip: 'esp32c3', timeScale: 0 });
    boards.push(board);
    const host = new HostClient(board.openPort());
    await host.enterBootloader();
    const rand = prng(0x5eed3);
    for (let i = 0; i < 2000; i++) host.writeRaw(randomBytes(rand, 1 + Math.floor(rand() * 32)));
    await fence(board, host);
    expect(board.internalErrors).toEqual([]);
    expect(await host.sync()).toHaveLength(8);
  }, 30_000);
});
