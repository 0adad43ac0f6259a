/**
 * Firmware parts cached on disk by SHA-256: fetched from the api once, checked
 * against their hash, and moved into place atomically, so a crash never
 * leaves a truncated part that looks valid.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FirmwarePartRef } from '#contracts';

/** A part whose bytes do not hash to what the run said. */
export class FirmwareIntegrityError extends Error {
  constructor(
    readonly sha256: string,
    readonly actual: string,
  ) {
    super(
      `firmware part ${sha256.slice(0, 12)}… downloaded with SHA-256 ${actual.slice(0, 12)}…; refusing it`,
    );
    this.name = 'FirmwareIntegrityError';
  }
}

/** Fetches bytes for a path on the api. */
export type PartDownloader = (downloadPath: string, signal?: AbortSignal) => Promise<Uint8Array>;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The on-disk cache of firmware parts. */
export class FirmwareCache {
  private readonly inFlight = new Map<string, Promise<Uint8Array>>();

  constructor(
    readonly dir: string,
    private readonly download: PartDownloader,
  ) {}

  /** Where a part lives in the cache. */
  pathOf(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), `${sha256}.bin`);
  }

  /** The part's bytes: from the cache when present and intact, else downloaded. */
  async get(part: FirmwarePartRef, signal?: AbortSignal): Promise<{ data: Uint8Array; cached: boolean }> {
    const sha256 = part.sha256.toLowerCase();
    if (!SHA256_HEX.test(sha256)) throw new FirmwareIntegrityError(part.sha256, 'not a SHA-256');
    const file = this.pathOf(sha256);
    try {
      const data = new Uint8Array(await fs.readFile(file));
      if (sha256Hex(data) === sha256) return { data, cached: true };
      await fs.rm(file, { force: true }); // damaged on disk: fetch again
    } catch {
      // Not cached yet.
    }
    // Several runs of one job start together: one download serves them all.
    let pending = this.inFlight.get(sha256);
    if (!pending) {
      pending = this.fetch(part.downloadPath, sha256, file, signal).finally(() =>
        this.inFlight.delete(sha256),
      );
      this.inFlight.set(sha256, pending);
    }
    return { data: await pending, cached: false };
  }

  private async fetch(
    downloadPath: string,
    sha256: string,
    file: string,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const data = await this.download(downloadPath, signal);
    const actual = sha256Hex(data);
    if (actual !== sha256) throw new FirmwareIntegrityError(sha256, actual);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
    return data;
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
