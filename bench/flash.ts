/**
 * Flash benchmark: a 1 MiB app + bootloader + partition table onto a
 * simulated ESP32 at 921 600 baud in real time (timeScale 1). Prints, from one
 * run: our wall time, esptool-js's on an identical board and image, the
 * line-rate lower bound, and our re-flash time for the unchanged image.
 * The last line is one JSON object with the figures.
 *
 *   npm run bench:flash                      (node --import ./scripts/register-ts.mjs bench/flash.ts)
 *   npm run bench:flash -- --levels 1,6,9    (also compare deflate levels end to end)
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { buildFirmwareSet, flash, type FlashRegion } from '#esp';
import { SimTransport } from '#serial';
import { FLASH_PAGE_BYTES, FLASH_TIMING_MS, SimBoard } from '#sim';
import { runEsptoolJsFlash, WebSerialAdapter } from '../test/support/web-serial-adapter.js';

const BAUD = 921_600;
const APP_PAYLOAD_BYTES = 1024 * 1024;
const BOARD = { chip: 'esp32', name: 'bench-esp32', timeScale: 1, flashSizeBytes: 4 * 1024 * 1024 } as const;

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

function boardHolds(board: SimBoard, parts: FlashRegion[]): boolean {
  return parts.every((p) => md5(board.flash.read(p.offset, p.data.length)) === md5(p.data));
}

async function ours(
  parts: FlashRegion[],
  level: number,
): Promise<{ ms: number; reflashMs: number; wireBytes: number }> {
  const board = new SimBoard(BOARD);
  const transport = new SimTransport(board);
  try {
    await transport.open(115200);
    const t0 = performance.now();
    const result = await flash(transport, parts, { baud: BAUD, deflateLevel: level });
    const ms = performance.now() - t0;
    if (!boardHolds(board, parts)) throw new Error('our flash left the wrong bytes');
    if (!transport.isOpen) await transport.open(115200);
    const t1 = performance.now();
    const again = await flash(transport, parts, { baud: BAUD, skipUnchanged: true });
    const reflashMs = performance.now() - t1;
    if (again.bytesWritten !== 0) throw new Error('the unchanged re-flash wrote data');
    return { ms, reflashMs, wireBytes: result.wireBytes };
  } finally {
    await transport.close();
    board.dispose();
  }
}

async function esptoolJs(parts: FlashRegion[]): Promise<number> {
  const board = new SimBoard(BOARD);
  try {
    const port = new WebSerialAdapter({ openHandle: () => board.openPort() });
    const t0 = performance.now();
    await runEsptoolJsFlash({
      port,
      baudrate: BAUD,
      files: parts.map((p) => ({ address: p.offset, data: p.data })),
    });
    const ms = performance.now() - t0;
    if (!parts.slice(1).every((p) => md5(board.flash.read(p.offset, p.data.length)) === md5(p.data))) {
      throw new Error('esptool-js left the wrong bytes');
    }
    return ms;
  } finally {
    board.dispose();
  }
}

/** Compressed bytes × 10 bit-times / baud, plus page programming of the uncompressed bytes (blank flash: no erase). */
function lowerBound(parts: FlashRegion[]): { ms: number; compressedBytes: number } {
  let compressedBytes = 0;
  let programMs = 0;
  for (const p of parts) {
    compressedBytes += deflateSync(p.data, { level: 9 }).length;
    programMs += Math.ceil(p.data.length / FLASH_PAGE_BYTES) * FLASH_TIMING_MS.pageProgram;
  }
  return { ms: (compressedBytes * 10 * 1000) / BAUD + programMs, compressedBytes };
}

async function main(): Promise<void> {
  const levelsArg = process.argv.indexOf('--levels');
  const levels = levelsArg > 0 ? process.argv[levelsArg + 1].split(',').map(Number) : [];
  const parts = buildFirmwareSet({
    chip: 'esp32',
    projectName: 'bench',
    version: '1.0.0',
    payloadBytes: APP_PAYLOAD_BYTES,
  });
  const bytes = parts.reduce((n, p) => n + p.data.length, 0);
  const bound = lowerBound(parts);
  console.log(
    `image: ${parts.map((p) => `${p.name} ${p.data.length} B @0x${p.offset.toString(16)}`).join(', ')}`,
  );
  console.log(
    `total ${bytes} B, ${bound.compressedBytes} B after zlib -9 (${((100 * bound.compressedBytes) / bytes).toFixed(1)} %)`,
  );

  for (const level of levels) {
    const r = await ours(parts, level);
    console.log(`deflate level ${level}: ${r.ms.toFixed(0)} ms, ${r.wireBytes} B on the wire`);
  }
  const mine = await ours(parts, 9);
  const theirs = await esptoolJs(parts);
  const rows: Array<[string, number]> = [
    ['flashfarm (ours)', mine.ms],
    ['esptool-js 0.7.0', theirs],
    ['line-rate lower bound', bound.ms],
    ['ours, unchanged re-flash', mine.reflashMs],
  ];
  for (const [label, ms] of rows) console.log(`${label.padEnd(28)} ${ms.toFixed(0).padStart(7)} ms`);
  console.log(
    `ours / esptool-js ${(mine.ms / theirs).toFixed(2)}; bound / ours ${((100 * bound.ms) / mine.ms).toFixed(1)} % (target ≥ 85 %); re-flash / flash ${((100 * mine.reflashMs) / mine.ms).toFixed(1)} % (target < 10 %)`,
  );
  console.log(
    JSON.stringify({
      oursMs: Math.round(mine.ms),
      esptoolJsMs: Math.round(theirs),
      boundMs: Math.round(bound.ms),
      reflashMs: Math.round(mine.reflashMs),
      baud: BAUD,
      bytes,
    }),
  );
}

await main();
