/**
 * Espressif's flasher stub images, read at run time from the esptool-js npm
 * package (a dependency; the images are never copied into this repository).
 * esptool-js 0.7.0 keeps one JSON per chip in lib/targets/stub_flasher/.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EspError } from '../errors.js';

/** One decoded stub image (reference §5.2). */
export interface StubImage {
  chip: string;
  entry: number;
  text: Uint8Array;
  textStart: number;
  data: Uint8Array;
  dataStart: number;
  /** Where the JSON was read from. */
  source: string;
}

interface StubJson {
  entry: number;
  text: string;
  text_start: number;
  data?: string;
  data_start?: number;
}

/** Directory holding esptool-js's per-chip stub JSON files. */
export function stubDirectory(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('esptool-js/package.json')), 'lib', 'targets', 'stub_flasher');
}

const cache = new Map<string, Promise<StubImage>>();

/** Loads the stub for a chip name as the targets spell it ("esp32", "esp32s3", "esp8266"). */
export function loadStubImage(chip: string): Promise<StubImage> {
  let p = cache.get(chip);
  if (!p) {
    p = readStub(chip);
    cache.set(chip, p);
    p.catch(() => cache.delete(chip));
  }
  return p;
}

async function readStub(chip: string): Promise<StubImage> {
  const file = join(stubDirectory(), `${chip}.json`);
  let json: StubJson;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as StubJson;
  } catch (err) {
    throw new EspError(
      `No flasher stub for ${chip} (${file}): ${(err as Error).message}. Run with noStub (--no-stub) to use the ROM loader alone.`,
      {
        code: 'STUB_ERROR',
        stage: 'stub',
        cause: err,
      },
    );
  }
  return {
    chip,
    entry: json.entry,
    text: Buffer.from(json.text, 'base64'),
    textStart: json.text_start,
    data: json.data ? Buffer.from(json.data, 'base64') : new Uint8Array(0),
    dataStart: json.data_start ?? 0,
    source: file,
  };
}
