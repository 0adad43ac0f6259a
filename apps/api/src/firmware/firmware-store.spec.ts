import { afterEach, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FirmwareStore } from './firmware-store.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function store(): FirmwareStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-store-'));
  dirs.push(dir);
  return new FirmwareStore(dir);
}

function part(text: string) {
  const data = new TextEncoder().encode(text);
  return { data, sha256: crypto.createHash('sha256').update(data).digest('hex') };
}

function files(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(root, f)).isFile())
    .sort();
}

describe('FirmwareStore', () => {
  it('names parts by SHA-256 and makes them visible only on commit', async () => {
    const s = store();
    const a = part('bootloader');
    const staged = await s.stage([a, a]);
    expect(await s.has(a.sha256)).toBe(false);
    await staged.commit();
    expect(await s.has(a.sha256)).toBe(true);
    expect(s.pathOf(a.sha256)).toBe(path.join(s.root, a.sha256.slice(0, 2), `${a.sha256.slice(2)}.bin`));
    expect(fs.readFileSync(s.pathOf(a.sha256), 'utf8')).toBe('bootloader');
  });

  it('leaves no file behind on discard, and skips parts already stored', async () => {
    const s = store();
    const a = part('app');
    await (await s.stage([a])).commit();
    const before = files(s.root);
    const b = part('other');
    const staged = await s.stage([a, b]);
    expect(files(s.root)).toHaveLength(before.length + 1);
    await staged.discard();
    expect(files(s.root)).toEqual(before);
  });

  it('clears temporary files left by a crash, but not fresh ones', async () => {
    const s = store();
    await s.stage([part('in flight')]);
    await s.clearStaleIncoming();
    expect(files(s.root)).toHaveLength(1);
    await s.clearStaleIncoming(Date.now() + 2 * 60 * 60 * 1000);
    expect(files(s.root)).toEqual([]);
  });

  it('refuses a name that is not a SHA-256', () => {
    expect(() => store().pathOf('../../etc/passwd')).toThrow(/not a SHA-256/);
  });
});
