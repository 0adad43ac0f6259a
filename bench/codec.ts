/**
 * The flasher's per-block byte work, alone: what the agent does to every
 * 16 KiB block it sends (data checksum, the FLASH_DEFL_DATA packet, its SLIP
 * frame) and to every frame it receives (SLIP decoding, as for READ_FLASH
 * data arriving in 4 KiB reads). Deflated firmware is close to random bytes,
 * so the blocks are random (about 1 byte in 128 needs a SLIP escape).
 * Prints MiB/s and CPU µs per block for each step; the last line is JSON.
 *
 *   npm run bench:codec                      (node --import ./scripts/register-ts.mjs bench/codec.ts)
 *   npm run bench:codec -- --mib 256         (bytes pushed through each step; default 128)
 *   npm run bench:codec -- --esp DIR/libs/esp/src/index.ts   (another libs/esp, e.g. an older
 *                                            commit's from `git archive`, for a before/after run)
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const espArg = process.argv.indexOf('--esp');
const esp = (await (espArg > 0
  ? import(pathToFileURL(path.resolve(process.argv[espArg + 1])).href)
  : import('#esp'))) as typeof import('#esp');
const { checksum, dataCommandBody, encodeRequest, Op, slipEncode, SlipDecoder } = esp;

const BLOCK = 0x4000;
const READ = 4096;
const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 128;
const BLOCKS = Math.max(1, Math.round((MIB * 1024 * 1024) / BLOCK));

const blocks = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(BLOCK)));

/** Runs fn over BLOCKS blocks after a warm-up; returns MiB/s and CPU µs per block. */
function run(
  name: string,
  fn: (block: Uint8Array, i: number) => number,
): { mibPerS: number; usPerBlock: number } {
  let sink = 0;
  for (let i = 0; i < 2000; i++) sink ^= fn(blocks[i % blocks.length], i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < BLOCKS; i++) sink ^= fn(blocks[i % blocks.length], i);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const usPerBlock = (cpu.user + cpu.system) / BLOCKS;
  const mibPerS = (BLOCKS * BLOCK) / (1024 * 1024) / (ms / 1000);
  console.log(
    `${name.padEnd(44)} ${mibPerS.toFixed(0).padStart(7)} MiB/s ${usPerBlock.toFixed(1).padStart(8)} µs CPU/block  (sink ${sink & 1})`,
  );
  return { mibPerS, usPerBlock };
}

const frames = blocks.map((b, i) => {
  const { body, checksum: sum } = dataCommandBody(b, i);
  // A READ_FLASH-sized reply frame: header + data, as the stub streams it.
  return slipEncode(encodeRequest(Op.READ_FLASH, body, sum));
});
const decoder = new SlipDecoder();

console.log(
  `flasher byte work (${espArg > 0 ? process.argv[espArg + 1] : 'libs/esp'}), node ${process.version}, ${BLOCKS} blocks of ${BLOCK} bytes per step`,
);
const results = {
  checksum: run('checksum (data block)', (b) => checksum(b)),
  slipEncode: run('slipEncode (data packet)', (b) => slipEncode(b).length),
  packet: run('FLASH_DEFL_DATA packet → SLIP frame', (b, i) => {
    const { body, checksum: sum } = dataCommandBody(b, i);
    return slipEncode(encodeRequest(Op.FLASH_DEFL_DATA, body, sum)).length;
  }),
  decode: run('SlipDecoder (frame in 4 KiB reads)', (_b, i) => {
    const frame = frames[i % frames.length];
    let n = 0;
    for (let o = 0; o < frame.length; o += READ) n += decoder.push(frame.subarray(o, o + READ)).length;
    return n;
  }),
};
console.log(
  JSON.stringify({ bench: 'codec', node: process.version, blockBytes: BLOCK, blocks: BLOCKS, ...results }),
);
