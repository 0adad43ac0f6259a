/**
 * Every simulated chip, in-process and over RFC 2217: identified correctly,
 * flashed with bootloader + partition table + app, verified, and the app
 * boots after the hard reset (its banner appears on the port).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { buildFirmwareSet, flash, hardReset, md5Hex, runResetSequence, type Transport } from '#esp';
import { Rfc2217Transport, SimTransport } from '#serial';
import { SimBoard, startRfc2217Server } from '#sim';

const CHIPS = ['esp8266', 'esp32', 'esp32s2', 'esp32s3', 'esp32c3', 'esp32c6'] as const;

let board: SimBoard | undefined;
let transport: Transport | undefined;
let stopServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await transport?.close();
  await stopServer?.();
  stopServer = undefined;
  board?.dispose();
});

/** Opens the board in-process or through the simulator's RFC 2217 server. */
async function connectTo(b: SimBoard, via: 'in-process' | 'rfc2217'): Promise<Transport> {
  if (via === 'in-process') {
    const t = new SimTransport(b);
    await t.open(115200);
    return t;
  }
  const server = await startRfc2217Server(b, { port: 0 });
  stopServer = () => server.close();
  const t = new Rfc2217Transport({ host: server.host, port: server.port });
  await t.open(115200);
  return t;
}

/** Reads what the port receives until `pattern` matches, with a deadline. */
async function readUntil(t: Transport, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (!pattern.test(text)) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`no ${String(pattern)} on the port within ${timeoutMs} ms; got: ${text.slice(-300)}`);
    try {
      text += Buffer.from(await t.read(left)).toString('latin1');
    } catch {
      // a read timeout: loop to the deadline check
    }
  }
  return text;
}

describe.each(
  CHIPS.flatMap((chip) => (['in-process', 'rfc2217'] as const).map((via) => [chip, via] as const)),
)('%s %s', (chip, via) => {
  it('is identified, flashed with three parts, verified, and boots the app', async () => {
    board = new SimBoard({ chip, name: `chips-${chip}`, timeScale: 0 });
    transport = await connectTo(board, via);
    const parts = buildFirmwareSet({
      chip,
      projectName: `blink-${chip}`,
      version: '1.2.3',
      payloadBytes: 48 * 1024,
    });
    const result = await flash(transport, parts, { baud: 921_600, after: 'no-reset' });

    expect(result.chip.chip).toBe(chip);
    expect(result.chip.mac).toBe(board.mac);
    expect(result.chip.flashSizeBytes).toBe(board.info.flashSizeBytes);
    expect(result.usedStub).toBe(true);
    expect(result.regions.map((r) => r.verified)).toEqual([true, true, true]);
    for (const part of parts) {
      expect(md5Hex(board.flash.read(part.offset, part.data.length))).toBe(md5Hex(part.data));
    }
    // The app's banner after a hard reset. The ESP8266 prints its boot and app log at 74 880 baud.
    await transport.setBaudRate(chip === 'esp8266' ? 74_880 : 115_200);
    await transport.flushInput();
    await runResetSequence(transport, hardReset().steps);
    if (chip === 'esp8266') {
      // The simulated ESP8266 boots the image at 0x0 itself (no second stage that chains to 0x10000):
      // the ROM must load the flashed image with a good checksum ("chksum 0xNN csum 0xNN" agree) and start it.
      await readUntil(transport, /chksum 0x(?:ok|([0-9a-f]{2}) csum 0x\1)[\s\S]*Calling app_main/, 5000);
      return;
    }
    const text = await readUntil(transport, new RegExp(`Project name:\\s+blink-${chip}`), 5000);
    expect(text).toMatch(/App version:\s+1\.2\.3/);
  });
});
