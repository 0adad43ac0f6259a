import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { readNvsPartition } from '#esp';
import { scratchDir } from '../../../../test/support/scratch.js';
import type { CommandIo } from './context.js';
import { FarmExitCode } from './exit-codes.js';
import { runNvsCommand } from './nvs.js';

function capture(): { io: CommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { env: {}, stdout: (t) => void (out += t), stderr: (t) => void (err += t) },
    out: () => out,
    err: () => err,
  };
}

const goldenCsv = new URL('../../../../test/fixtures/nvs_golden.csv', import.meta.url);
const goldenBin = new URL('../../../../test/fixtures/nvs_golden.bin', import.meta.url);

describe('flashfarm nvs', () => {
  it('generate makes the golden partition from its CSV, reading file rows from the current directory', async () => {
    const dir = scratchDir('nvs-cli');
    writeFileSync(
      join(dir, 'blob5000.bin'),
      Uint8Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 0xff),
    );
    const out = join(dir, 'out.bin');
    const cwd = process.cwd();
    const { io, out: stdout } = capture();
    process.chdir(dir);
    try {
      expect(await runNvsCommand(['generate', goldenCsv.pathname, out, '--size', '0x6000'], io)).toBe(
        FarmExitCode.OK,
      );
    } finally {
      process.chdir(cwd);
    }
    expect(Buffer.compare(readFileSync(out), readFileSync(goldenBin))).toBe(0);
    expect(stdout()).toContain('0x6000 bytes, 2 namespaces, 17 keys, 2 of 6 pages used');
  });

  it('decode prints namespaces and values, also as JSON and from inside a flash dump', async () => {
    const golden = readFileSync(goldenBin);
    const text = capture();
    expect(await runNvsCommand(['decode', goldenBin.pathname], text.io)).toBe(0);
    expect(text.out()).toContain('[device]');
    expect(text.out()).toMatch(/serial\s+string\s+"FF-2619-000042"/);
    expect(text.out()).toMatch(/uid\s+u64\s+18446744073709551615/);

    const dump = Buffer.alloc(0x10000 + golden.length, 0xff);
    golden.copy(dump, 0x9000);
    const path = join(scratchDir('nvs-cli'), 'flash.bin');
    writeFileSync(path, dump);
    const json = capture();
    expect(
      await runNvsCommand(['decode', path, '--offset', '0x9000', '--size', '24k', '--json'], json.io),
    ).toBe(0);
    const parsed = JSON.parse(json.out()) as {
      namespaces: Array<{ name: string; entries: Array<{ key: string; value: unknown }> }>;
    };
    expect(
      parsed.namespaces.find((n) => n.name === 'device')?.entries.find((e) => e.key === 'epoch_ms')?.value,
    ).toBe('-9223372036854775808');
    expect(readNvsPartition(golden).entries.length).toBe(17);
  });

  it('exits 3 for an invalid CSV or a corrupt partition, naming the problem', async () => {
    const dir = scratchDir('nvs-cli');
    writeFileSync(join(dir, 'bad.csv'), 'key,type,encoding,value\nk,data,u8,1\n');
    const bad = capture();
    expect(
      await runNvsCommand(['generate', join(dir, 'bad.csv'), join(dir, 'x.bin'), '--size', '0x3000'], bad.io),
    ).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(bad.err()).toContain('line 2: key "k" comes before the first namespace row');

    const corrupt = readFileSync(goldenBin);
    corrupt[0x70] ^= 0x01; // a key byte of entry 1: its header CRC no longer matches
    writeFileSync(join(dir, 'corrupt.bin'), corrupt);
    const err = capture();
    expect(await runNvsCommand(['decode', join(dir, 'corrupt.bin')], err.io)).toBe(
      FarmExitCode.FIRMWARE_REJECTED,
    );
    expect(err.err()).toContain('Page 0 entry 1');
    expect(err.err()).toContain('[BAD_ENTRY_CRC]');
  });

  it('exits 2 for usage mistakes and unreadable files', async () => {
    const cases: Array<[string[], string]> = [
      [['generate', 'a.csv', 'b.bin'], 'needs --size'],
      [['generate', 'a.csv'], 'takes <recipe.csv> <out.bin>'],
      [['generate', 'a.csv', 'b.bin', '--size', 'big'], '--size "big" is not a size'],
      [['generate', 'a.csv', 'b.bin', '--size', '0x3000', '--version', '3'], 'use 1 or 2'],
      [['generate', '/nonexistent/a.csv', 'b.bin', '--size', '0x3000'], 'cannot read the recipe'],
      [['decode'], 'takes <file.bin>'],
      [['decode', goldenBin.pathname, '--offset', '0x10000'], 'reaches past its end'],
      [['decode', goldenBin.pathname, '--colour'], "Unknown option '--colour'"],
      [['frobnicate'], 'unknown nvs command "frobnicate"'],
    ];
    for (const [argv, words] of cases) {
      const run = capture();
      expect({ argv, code: await runNvsCommand(argv, run.io) }).toEqual({ argv, code: FarmExitCode.USAGE });
      expect(run.err()).toContain(words);
    }
  });
});
