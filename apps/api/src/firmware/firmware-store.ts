/**
 * The firmware byte store: one file per distinct part, named by its SHA-256
 * (`ab/cdef….bin`) under the firmware directory. Writes go to a temporary
 * file in the same directory tree and are renamed into place only when the
 * upload is committed, so a refused or failed upload leaves nothing behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

const TMP_DIR = '.incoming';
const SHA256_RE = /^[0-9a-f]{64}$/;
/** A temporary file this old belongs to no upload in progress (uploads take seconds). */
const STALE_INCOMING_MS = 60 * 60 * 1000;

/** Parts written to temporary files, waiting for commit or discard. */
export interface StagedParts {
  /** Moves every staged part to its final name (parts already stored are left as they are). */
  commit(): Promise<void>;
  /** Removes the temporary files. */
  discard(): Promise<void>;
}

/** Content-addressed storage of firmware parts on the local file system. */
export class FirmwareStore {
  constructor(readonly root: string) {}

  /** Where the bytes of a part live. */
  pathOf(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), `${sha256.slice(2)}.bin`);
  }

  /** True when the part's bytes are stored. */
  async has(sha256: string): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  /** Writes parts that are not stored yet to temporary files (fsynced) for a later commit. */
  async stage(parts: ReadonlyArray<{ sha256: string; data: Uint8Array }>): Promise<StagedParts> {
    const tmpDir = path.join(this.root, TMP_DIR);
    await fsp.mkdir(tmpDir, { recursive: true });
    const staged: Array<{ tmp: string; sha256: string }> = [];
    const discard = async () => {
      await Promise.all(staged.map((s) => fsp.rm(s.tmp, { force: true })));
      staged.length = 0;
    };
    try {
      const unique = new Map(parts.map((p) => [p.sha256, p.data]));
      for (const [sha256, data] of unique) {
        if (await this.has(sha256)) continue;
        const tmp = path.join(tmpDir, `${sha256}.${crypto.randomBytes(6).toString('hex')}.tmp`);
        staged.push({ tmp, sha256 });
        const handle = await fsp.open(tmp, 'wx');
        try {
          await handle.writeFile(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    } catch (error) {
      await discard();
      throw error;
    }
    return {
      commit: async () => {
        for (const s of staged) {
          const final = this.pathOf(s.sha256);
          await fsp.mkdir(path.dirname(final), { recursive: true });
          await fsp.rename(s.tmp, final);
        }
        staged.length = 0;
      },
      discard,
    };
  }

  /** Removes temporary files older than STALE_INCOMING_MS (an upload cut short by a crash). */
  async clearStaleIncoming(now = Date.now()): Promise<void> {
    const dir = path.join(this.root, TMP_DIR);
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const stat = await fsp.stat(file).catch(() => undefined);
      if (stat && now - stat.mtimeMs > STALE_INCOMING_MS) await fsp.rm(file, { force: true });
    }
  }

  /** Deletes a part's bytes (missing files are fine). */
  async remove(sha256: string): Promise<void> {
    await fsp.rm(this.pathOf(sha256), { force: true });
  }

  /** Opens a part for reading; undefined when its file is missing. */
  openRead(sha256: string): fs.ReadStream | undefined {
    const file = this.pathOf(sha256);
    if (!fs.existsSync(file)) return undefined;
    return fs.createReadStream(file);
  }
}
