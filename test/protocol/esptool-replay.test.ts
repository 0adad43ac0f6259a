import { holdFor } from '../support/stimulus.js';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { openTransport } from '#serial';
import {
  type ChipName,
  KNOWN_STUBS,
  type KnownStub,
  SimBoard,
  isChipName,
  simTraffic,
  startRfc2217Server,
} from '#sim';

// Espressif's esptool cannot run in CI (it is Python, not an npm package), so its traffic for a
// default-reset `write-flash` was recorded once against `flashfarm sim`'s board and server
// (scripts/record-esptool-session.ts; provenance in test/fixtures/README.md). Here it is played
// back over real TCP to a fresh simulated board behind the RFC 2217 server: every line change,
// baud change and request as esptool sent it, and every reply the simulator gives is compared
// with the recorded one, frame by frame. The flash must end up holding the written file.

const { FrameSplitter, isReplyFrame } = simTraffic;
type RecordedSession = simTraffic.RecordedSession;
type RecordedStep = simTraffic.RecordedStep;

const SYNC = 0x08;
/** SET-CONTROL values of the recording (RFC 2217 §9.2 of the reference). */
const Control = { NO_FLOW: 1, DTR_ON: 8, DTR_OFF: 9, RTS_ON: 11, RTS_OFF: 12 } as const;
/** esptool retries SYNC about every 100 ms until the ROM answers (its connect loop). */
const SYNC_RETRY_MS = 100;
const REPLY_TIMEOUT_MS = 3_000;
const WRITE_OFFSET = 0x10000;

const fixtureDir = new URL('../fixtures/', import.meta.url);
const written = new Uint8Array(readFileSync(new URL('esptool-replay-data.bin', fixtureDir)));

function load(name: string): RecordedSession {
  return JSON.parse(readFileSync(new URL(name, fixtureDir), 'utf8')) as RecordedSession;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const frameOf = (step: { send: string } | { recv: string }): Uint8Array =>
  new Uint8Array(Buffer.from('send' in step ? step.send : step.recv, 'base64'));

function slip(frame: Uint8Array): Uint8Array {
  const out: number[] = [0xc0];
  for (const byte of frame) {
    if (byte === 0xc0) out.push(0xdb, 0xdc);
    else if (byte === 0xdb) out.push(0xdb, 0xdd);
    else out.push(byte);
  }
  out.push(0xc0);
  return Uint8Array.from(out);
}

/** The stub the recording uploaded, catalogued under the digest of the filler that replaced its text. */
function standInStub(session: RecordedSession, chip: ChipName): KnownStub {
  const stub = session.stub!;
  const real = KNOWN_STUBS.find((s) => s.chip === chip && s.textSha256 === stub.textSha256);
  if (!real) throw new Error(`the recorded stub ${stub.textSha256} is not in the catalogue`);
  expect(real.release).toBe(stub.recognisedAs);
  return { ...real, textSha256: stub.fillerTextSha256! };
}

/** Reply frames coming back over the transport, in order. */
class Replies {
  private readonly frames: Uint8Array[] = [];
  private readonly splitter = new FrameSplitter();

  constructor(private readonly read: (timeoutMs: number) => Promise<Uint8Array>) {}

  /** The next reply frame (boot text and noise between frames skipped); throws at the deadline. */
  async next(timeoutMs = REPLY_TIMEOUT_MS): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      let bytes: Uint8Array;
      try {
        bytes = await this.read(left);
      } catch {
        continue;
      }
      this.splitter.push(bytes, (frame) => {
        if (isReplyFrame(frame)) this.frames.push(frame);
      });
    }
    return this.frames.shift()!;
  }
}

interface Exchange {
  send: Uint8Array;
  /** Replies recorded between this request and the next one. */
  expected: Uint8Array[];
  /** Line and baud commands recorded after those replies, before the next request, with their gaps. */
  after: Array<{ step: RecordedStep; gapMs: number }>;
}

/** Groups the steps: the commands before the first request, then each request with its replies and what follows. */
function exchanges(steps: RecordedStep[]): {
  before: Array<{ step: RecordedStep; gapMs: number }>;
  list: Exchange[];
} {
  const before: Array<{ step: RecordedStep; gapMs: number }> = [];
  const list: Exchange[] = [];
  let lastCommandAt = 0;
  for (const step of steps) {
    if ('send' in step) {
      list.push({ send: frameOf(step), expected: [], after: [] });
    } else if ('recv' in step) {
      list.at(-1)!.expected.push(frameOf(step));
    } else {
      const gapMs = Math.max(0, step.atMs - lastCommandAt);
      lastCommandAt = step.atMs;
      (list.length === 0 ? before : list.at(-1)!.after).push({ step, gapMs });
    }
  }
  return { before, list };
}

async function replay(fixture: string): Promise<{ board: SimBoard; compared: number }> {
  const session = load(fixture);
  const chip = session.board.chip;
  if (!isChipName(chip)) throw new Error(`fixture for an unknown chip ${chip}`);
  expect(session.warnings).toEqual([]);
  const board = new SimBoard({
    chip,
    name: session.board.name,
    mac: session.board.mac,
    timeScale: 0.01,
    stubCatalogue: [...KNOWN_STUBS, standInStub(session, chip)],
  });
  cleanups.push(() => board.dispose());
  const server = await startRfc2217Server(board, { port: 0, resetMode: session.board.resetMode });
  cleanups.push(() => server.close());
  const transport = await openTransport(server.url, { baudRate: 9600 });
  cleanups.push(() => transport.close());
  const replies = new Replies((timeoutMs) => transport.read(timeoutMs));

  const perform = async (commands: Array<{ step: RecordedStep; gapMs: number }>): Promise<void> => {
    for (const { step, gapMs } of commands) {
      // esptool's own sleeps between line changes (its reset sequence), kept as recorded.
      await holdFor(gapMs);
      if ('baud' in step) {
        if (step.baud > 0) await transport.setBaudRate(step.baud);
      } else if ('control' in step) {
        switch (step.control) {
          case Control.DTR_ON:
          case Control.DTR_OFF:
            await transport.setSignals({ dtr: step.control === Control.DTR_ON });
            break;
          case Control.RTS_ON:
          case Control.RTS_OFF:
            await transport.setSignals({ rts: step.control === Control.RTS_ON });
            break;
          case Control.NO_FLOW:
            // The transport set no flow control when it opened; nothing else in the recording.
            break;
          default:
            throw new Error(`unexpected SET-CONTROL ${step.control} in the recording`);
        }
      }
    }
  };

  const { before, list } = exchanges(session.steps);
  await perform(before);
  let compared = 0;
  for (const [index, exchange] of list.entries()) {
    const op = exchange.send[1];
    if (op === SYNC && index === 0) {
      // Connecting: the ROM answers once it has left reset; retry as esptool does.
      let first: Uint8Array | undefined;
      for (let attempt = 0; attempt < 30 && !first; attempt++) {
        await transport.write(slip(exchange.send));
        try {
          first = await replies.next(SYNC_RETRY_MS);
        } catch {
          // Not yet in the loader.
        }
      }
      if (!first) throw new Error('the ROM never answered SYNC');
      const got = [first];
      while (got.length < exchange.expected.length) got.push(await replies.next());
      expect(got.map(b64)).toEqual(exchange.expected.map(b64));
    } else {
      await transport.write(slip(exchange.send));
      for (const [i, expected] of exchange.expected.entries()) {
        const got = await replies.next();
        if (b64(got) !== b64(expected)) {
          throw new Error(
            `request ${index} (op 0x${op.toString(16)}), reply ${i}: got ${Buffer.from(got).toString('hex')}, ` +
              `recorded ${Buffer.from(expected).toString('hex')}`,
          );
        }
      }
    }
    compared += exchange.expected.length;
    await perform(exchange.after);
  }
  return { board, compared };
}

describe('esptool v5.3.1 traffic replayed against the simulator (default reset, stub, write-flash -z at 921600)', () => {
  it.each([
    ['esp32', 'esptool-v5.3.1-esp32-write-flash.json'],
    ['esp32c3', 'esptool-v5.3.1-esp32c3-write-flash.json'],
  ])('%s: every reply matches the recording and the flash holds the file', async (_chip, fixture) => {
    const { board, compared } = await replay(fixture);
    expect(compared).toBeGreaterThan(50);
    expect(board.flash.compare(WRITE_OFFSET, written)).toEqual([]);
    expect(board.warnings).toEqual([]);
    expect(board.internalErrors).toEqual([]);
  });
});
