import { findTarget } from '../targets/registry.js';
import type { ChipName } from '../targets/types.js';
import { hex, ImageError, type ImageProblem } from './problems.js';

/** One file to flash, as listed in flasher_args.json. */
export interface FlasherArgsFile {
  offset: number;
  /** Relative path inside the build directory, '/'-separated, already checked to be safe. */
  path: string;
}

/** What ESP-IDF's build/flasher_args.json says about a build. */
export interface FlasherArgs {
  files: FlasherArgsFile[];
  chip?: ChipName;
  flashSettings: { mode?: string; size?: string; freq?: string };
}

/** Longest path accepted from a bundle (ESP-IDF's own are far shorter). */
const MAX_PATH_CHARS = 255;

/**
 * Why a bundle path is unsafe, or undefined when it is a plain relative path: no absolute paths, no
 * drive letters or URLs, no backslashes, no "." or ".." segments, no empty segments, no control characters.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'it is empty';
  if (path.length > MAX_PATH_CHARS) return `it is longer than ${MAX_PATH_CHARS} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'it contains control characters';
  if (path.includes('\\'))
    return 'it contains a backslash (Windows separators could escape the build directory)';
  if (path.startsWith('/')) return 'it is absolute';
  if (path.includes(':')) return 'it contains ":" (drive letter or URL)';
  const segments = path.split('/');
  if (segments.some((s) => s === '..')) return 'it contains a ".." segment';
  if (segments.some((s) => s === '.' || s === '')) return 'it contains an empty or "." segment';
  if (path.startsWith('~')) return 'it starts with "~"';
  return undefined;
}

function parseOffset(key: string): number | undefined {
  const t = key.trim();
  const value = /^0x[0-9a-f]+$/i.test(t)
    ? Number.parseInt(t.slice(2), 16)
    : /^\d+$/.test(t)
      ? Number(t)
      : NaN;
  return Number.isSafeInteger(value) && value >= 0 && value <= 0xffffffff ? value : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses ESP-IDF's flasher_args.json (text or already-parsed JSON): the flash_files map of offset to
 * path, flash_settings and extra_esptool_args.chip. Throws ImageError listing every problem found.
 */
export function parseFlasherArgs(input: unknown): FlasherArgs {
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (err) {
      throw new ImageError(
        'BAD_FLASHER_ARGS',
        `flasher_args.json is not valid JSON: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const problems: ImageProblem[] = [];
  if (!isRecord(json)) throw new ImageError('BAD_FLASHER_ARGS', 'flasher_args.json must be a JSON object.');
  const flashFiles = json.flash_files;
  if (!isRecord(flashFiles) || Object.keys(flashFiles).length === 0)
    throw new ImageError('BAD_FLASHER_ARGS', 'flasher_args.json has no "flash_files" map of offset to file.');

  const files: FlasherArgsFile[] = [];
  for (const [key, value] of Object.entries(flashFiles)) {
    const offset = parseOffset(key);
    if (offset === undefined) {
      problems.push({
        code: 'BAD_FLASHER_ARGS',
        message: `flash_files key "${key}" is not an offset like "0x10000".`,
      });
      continue;
    }
    if (typeof value !== 'string') {
      problems.push({
        code: 'BAD_FLASHER_ARGS',
        message: `flash_files["${key}"] must be a file path string.`,
        offset,
      });
      continue;
    }
    const reason = unsafePathReason(value);
    if (reason) {
      problems.push({
        code: 'UNSAFE_PATH',
        message: `flash_files["${key}"] path "${value}" is refused: ${reason}.`,
        offset,
      });
      continue;
    }
    files.push({ offset, path: value });
  }
  files.sort((a, b) => a.offset - b.offset);
  const seen = new Map<number, string>();
  for (const f of files) {
    if (seen.has(f.offset))
      problems.push({
        code: 'BAD_FLASHER_ARGS',
        message: `Two files at ${hex(f.offset)}: ${seen.get(f.offset)} and ${f.path}.`,
        offset: f.offset,
      });
    seen.set(f.offset, f.path);
  }

  const settings = isRecord(json.flash_settings) ? json.flash_settings : {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const flashSettings = {
    mode: str(settings.flash_mode),
    size: str(settings.flash_size),
    freq: str(settings.flash_freq),
  };

  let chip: ChipName | undefined;
  const extra = isRecord(json.extra_esptool_args) ? json.extra_esptool_args : {};
  if (extra.chip !== undefined) {
    const target = typeof extra.chip === 'string' ? findTarget(extra.chip) : undefined;
    if (target) chip = target.name;
    else
      problems.push({
        code: 'CHIP_UNKNOWN',
        message: `extra_esptool_args.chip ${JSON.stringify(extra.chip)} is not a supported chip.`,
      });
  }
  if (problems.length)
    throw new ImageError(problems[0].code, problems.map((p) => p.message).join(' '), { problems });
  return { files, chip, flashSettings };
}
