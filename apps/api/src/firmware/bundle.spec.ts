import { describe, expect, it } from '@jest/globals';
import zlib from 'node:zlib';
import { zipSync } from 'fflate';
import { archiveKind, BundleError, readIdfBundle, type BundleLimits } from './bundle.js';

const LIMITS = { maxUnpackedBytes: 1024 * 1024 };
const text = (s: string) => new TextEncoder().encode(s);
const args = (files: Record<string, string>) => text(JSON.stringify({ flash_files: files }));

async function refusal(data: Uint8Array, limits: BundleLimits = LIMITS): Promise<BundleError> {
  try {
    await readIdfBundle(data, limits);
  } catch (error) {
    if (error instanceof BundleError) return error;
    throw error;
  }
  throw new Error('the bundle was accepted');
}

describe('readIdfBundle', () => {
  it('reads flasher_args.json and the files it names relative to its directory', async () => {
    const zip = zipSync({
      'out/build/flasher_args.json': args({ '0x10000': 'app.bin', '0x1000': 'bootloader/bootloader.bin' }),
      'out/build/app.bin': text('APP'),
      'out/build/bootloader/bootloader.bin': text('BOOT'),
      'out/build/app.elf': new Uint8Array(100),
    });
    const bundle = await readIdfBundle(zip, LIMITS);
    expect(bundle.argsPath).toBe('out/build/flasher_args.json');
    expect(bundle.files.map((f) => [f.offset, f.path, new TextDecoder().decode(f.data)])).toEqual([
      [0x1000, 'bootloader/bootloader.bin', 'BOOT'],
      [0x10000, 'app.bin', 'APP'],
    ]);
  });

  it('prefers the shallowest flasher_args.json and refuses two at the same depth', async () => {
    const nested = zipSync({
      'flasher_args.json': args({ '0x0': 'a.bin' }),
      'a.bin': text('A'),
      'sub/flasher_args.json': args({ '0x0': 'b.bin' }),
    });
    expect((await readIdfBundle(nested, LIMITS)).argsPath).toBe('flasher_args.json');
    const twins = zipSync({
      'a/flasher_args.json': args({ '0x0': 'x' }),
      'b/flasher_args.json': args({ '0x0': 'x' }),
    });
    expect((await refusal(twins)).message).toMatch(/more than one flasher_args\.json/);
  });

  it('says what is wrong with damaged or foreign archives', async () => {
    const zip = zipSync({ 'flasher_args.json': args({ '0x0': 'a.bin' }), 'a.bin': text('A') });
    expect((await refusal(zip.subarray(0, zip.length - 30))).problems[0].code).toBe('BUNDLE_CORRUPT');
    const gz = zlib.gzipSync(Buffer.from('not a tar archive at all, just text'.repeat(40)));
    expect((await refusal(new Uint8Array(gz))).problems[0].code).toBe('BUNDLE_CORRUPT');
    expect((await refusal(text('plain text'))).problems[0].code).toBe('BUNDLE_UNSUPPORTED');
  });

  it('caps the number of entries', async () => {
    const many: Record<string, Uint8Array> = { 'flasher_args.json': args({ '0x0': 'f0' }) };
    for (let i = 0; i < 20; i++) many[`f${i}`] = text('x');
    const error = await refusal(zipSync(many), { ...LIMITS, maxEntries: 10 });
    expect(error.problems[0].code).toBe('BUNDLE_TOO_MANY_ENTRIES');
  });

  it('recognises archives by their magic bytes', () => {
    expect(archiveKind(zipSync({ a: text('a') }))).toBe('zip');
    expect(archiveKind(new Uint8Array(zlib.gzipSync(Buffer.from('x'))))).toBe('tar.gz');
    expect(archiveKind(new Uint8Array([0xe9, 0x03]))).toBeUndefined();
  });
});
