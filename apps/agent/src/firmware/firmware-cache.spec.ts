import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FirmwarePartRef } from '#contracts';
import { FirmwareCache, FirmwareIntegrityError } from './firmware-cache.js';

function part(data: Uint8Array): FirmwarePartRef {
  const sha256 = createHash('sha256').update(data).digest('hex');
  return {
    offset: 0x10000,
    size: data.length,
    sha256,
    md5: createHash('md5').update(data).digest('hex'),
    role: 'app',
    downloadPath: `/firmware/f/parts/${sha256}`,
  };
}

function listFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];
}

const dirs: string[] = [];
/** A fresh cache directory, removed after the test. */
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-cache-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('firmware cache', () => {
  it('downloads a part once for concurrent runs, then serves it from disk', async () => {
    const dir = tempDir();
    const data = new Uint8Array(4096).map((_, i) => i % 251);
    const downloads: string[] = [];
    const cache = new FirmwareCache(dir, (p) => {
      downloads.push(p);
      return new Promise((resolve) => setTimeout(() => resolve(data), 20));
    });
    const ref = part(data);
    const [a, b] = await Promise.all([cache.get(ref), cache.get(ref)]);
    expect(downloads).toHaveLength(1);
    expect(Buffer.from(a.data).equals(Buffer.from(data))).toBe(true);
    expect(b.cached).toBe(false);
    expect((await cache.get(ref)).cached).toBe(true);
    expect(downloads).toHaveLength(1);
    expect(listFiles(dir)).toEqual([
      ref.sha256.slice(0, 2),
      path.join(ref.sha256.slice(0, 2), `${ref.sha256}.bin`),
    ]);
  });

  it('refuses bytes that do not match the hash and keeps nothing of them', async () => {
    const dir = tempDir();
    const ref = part(new Uint8Array([1, 2, 3, 4]));
    const cache = new FirmwareCache(dir, () => Promise.resolve(new Uint8Array([1, 2, 3, 5])));
    await expect(cache.get(ref)).rejects.toBeInstanceOf(FirmwareIntegrityError);
    expect(listFiles(dir)).toEqual([]);
  });

  it('fetches again when the cached file was damaged on disk', async () => {
    const dir = tempDir();
    const data = new Uint8Array([9, 8, 7, 6]);
    let fetched = 0;
    const cache = new FirmwareCache(dir, () => {
      fetched++;
      return Promise.resolve(data);
    });
    const ref = part(data);
    await cache.get(ref);
    fs.writeFileSync(cache.pathOf(ref.sha256), 'garbage');
    const again = await cache.get(ref);
    expect(again.cached).toBe(false);
    expect(fetched).toBe(2);
    expect(fs.readFileSync(cache.pathOf(ref.sha256)).equals(Buffer.from(data))).toBe(true);
  });
});
