/**
 * Reading ESP-IDF build bundles (.zip or .tar.gz holding flasher_args.json
 * and the files it names) without trusting them: no path escapes, no links,
 * no duplicate names, bounded entry count and bounded unpacked size. Only the
 * files flasher_args.json names are kept in memory.
 *
 * Sizes an archive declares are only used to refuse early; what is enforced
 * is what inflating actually produces. Entries are inflated by zlib's streams
 * (the work runs on libuv's thread pool, the event loop only sees each 64 KiB
 * chunk), counted as they come, and the stream is destroyed the moment an
 * entry passes maxEntryBytes or the upload passes maxUnpackedBytes: a zip bomb
 * costs at most the cap in memory and a few milliseconds of the event loop.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { parseFlasherArgs, unsafePathReason, ImageError, type FlasherArgs } from '#esp';

/** Most entries a bundle may list (ESP-IDF's flash files are a handful; whole build trees are refused). */
export const MAX_BUNDLE_ENTRIES = 10_000;
/** flasher_args.json is a few KiB; anything bigger is not one. */
const MAX_FLASHER_ARGS_BYTES = 1024 * 1024;
const FLASHER_ARGS = 'flasher_args.json';

/** One problem with a bundle, worded for a person; codes are the image parser's or BUNDLE_*. */
export interface BundleProblem {
  code: string;
  message: string;
  file?: string;
}

/** A bundle was refused; `status` is 413 when it is too big unpacked, 422 otherwise. */
export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    readonly problems: BundleProblem[],
    readonly status: 413 | 422 = 422,
  ) {
    super(problems.map((p) => p.message).join(' '));
  }
}

/** Limits for reading a bundle. */
export interface BundleLimits {
  /** Sum of the unpacked sizes of every entry, declared (refused early) and actually inflated. */
  maxUnpackedBytes: number;
  /** Largest file the bundle may hand over (a part cannot be larger than an upload); default maxUnpackedBytes. */
  maxEntryBytes?: number;
  maxEntries?: number;
}

/** 413 for a bundle or an entry that unpacks past a limit. */
function tooLarge(message: string): BundleError {
  return new BundleError([{ code: 'BUNDLE_TOO_LARGE', message }], 413);
}

/** The bundle's flasher_args.json and the bytes of each file it names. */
export interface IdfBundle {
  /** Path of flasher_args.json inside the archive. */
  argsPath: string;
  args: FlasherArgs;
  files: Array<{ offset: number; path: string; data: Uint8Array }>;
}

/** The archive format of an upload, by magic bytes. */
export function archiveKind(data: Uint8Array): 'zip' | 'tar.gz' | undefined {
  if (data[0] === 0x50 && data[1] === 0x4b && data[2] === 0x03 && data[3] === 0x04) return 'zip';
  if (data[0] === 0x50 && data[1] === 0x4b && data[2] === 0x05 && data[3] === 0x06) return 'zip';
  if (data[0] === 0x1f && data[1] === 0x8b) return 'tar.gz';
  return undefined;
}

interface EntryInfo {
  name: string;
  size: number;
}

/** Strips the "./" that `tar -C build .` puts in front of every name. */
function normalise(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  return n;
}

class EntryChecker {
  private readonly seen = new Set<string>();
  private count = 0;
  private total = 0;
  readonly problems: BundleProblem[] = [];

  constructor(private readonly limits: BundleLimits) {}

  /** Checks one entry; returns its safe name, or undefined when it is refused or a directory. */
  add(rawName: string, size: number, kind: 'file' | 'directory' | 'link' | 'other'): string | undefined {
    this.count++;
    const maxEntries = this.limits.maxEntries ?? MAX_BUNDLE_ENTRIES;
    if (this.count === maxEntries + 1)
      throw new BundleError([
        { code: 'BUNDLE_TOO_MANY_ENTRIES', message: `The bundle has more than ${maxEntries} entries.` },
      ]);
    this.total += size;
    if (this.total > this.limits.maxUnpackedBytes)
      throw new BundleError(
        [
          {
            code: 'BUNDLE_TOO_LARGE',
            message: `The bundle unpacks to more than ${this.limits.maxUnpackedBytes} bytes; bundles hold flasher_args.json and the binaries it names, not whole build trees.`,
          },
        ],
        413,
      );
    const name = normalise(kind === 'directory' ? rawName.replace(/\/+$/, '') : rawName);
    if (name === '' || name === '.') return undefined;
    const reason = unsafePathReason(name);
    if (reason) {
      this.problems.push({
        code: 'UNSAFE_PATH',
        message: `Archive entry "${rawName}" is refused: ${reason}.`,
        file: rawName,
      });
      return undefined;
    }
    if (kind === 'link') {
      this.problems.push({
        code: 'UNSAFE_PATH',
        message: `Archive entry "${rawName}" is a link; bundles may only hold regular files.`,
        file: rawName,
      });
      return undefined;
    }
    if (kind === 'other') {
      this.problems.push({
        code: 'UNSAFE_PATH',
        message: `Archive entry "${rawName}" is a device or pipe; bundles may only hold regular files.`,
        file: rawName,
      });
      return undefined;
    }
    if (kind === 'directory') return undefined;
    if (this.seen.has(name)) {
      this.problems.push({
        code: 'DUPLICATE_ENTRY',
        message: `Archive entry "${name}" appears twice.`,
        file: name,
      });
      return undefined;
    }
    this.seen.add(name);
    return name;
  }
}

// ---- zip: the central directory tells names, sizes and Unix modes without inflating anything.

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const UNIX_HOST = 3;

/** One central-directory record: where the entry's data is and what it claims about it. */
interface ZipEntry extends EntryInfo {
  kind: 'file' | 'directory' | 'link' | 'other';
  method: number;
  crc: number;
  compressedSize: number;
  localOffset: number;
}

function zipEntries(data: Uint8Array): ZipEntry[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const corrupt = (why: string) =>
    new BundleError([{ code: 'BUNDLE_CORRUPT', message: `The zip archive is damaged: ${why}.` }]);
  let eocd = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 0xffff); i--)
    if (view.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw corrupt('no end-of-central-directory record');
  const count = view.getUint16(eocd + 10, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff)
    throw new BundleError([
      {
        code: 'BUNDLE_UNSUPPORTED',
        message: 'ZIP64 archives are not supported; firmware bundles are small.',
      },
    ]);
  const entries: ZipEntry[] = [];
  let pos = cdOffset;
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (pos + 46 > data.length || view.getUint32(pos, true) !== CDH_SIG)
      throw corrupt(`central directory entry ${i + 1} is missing`);
    const host = view.getUint8(pos + 5);
    const method = view.getUint16(pos + 10, true);
    const crc = view.getUint32(pos + 16, true);
    const compressedSize = view.getUint32(pos + 20, true);
    const size = view.getUint32(pos + 24, true);
    const localOffset = view.getUint32(pos + 42, true);
    const nameLen = view.getUint16(pos + 28, true);
    const extraLen = view.getUint16(pos + 30, true);
    const commentLen = view.getUint16(pos + 32, true);
    const mode = view.getUint32(pos + 38, true) >>> 16;
    const name = decoder.decode(data.subarray(pos + 46, pos + 46 + nameLen));
    const type = host === UNIX_HOST ? mode & S_IFMT : 0;
    const kind =
      type === S_IFLNK
        ? 'link'
        : name.endsWith('/') || type === S_IFDIR
          ? 'directory'
          : type === 0 || type === S_IFREG
            ? 'file'
            : 'other';
    entries.push({ name, size, kind, method, crc, compressedSize, localOffset });
    pos += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

const LOCAL_HEADER_SIG = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;
/** Output chunk of the inflater: what the event loop handles at a time. */
const INFLATE_CHUNK_BYTES = 64 * 1024;

/** Inflates raw deflate data on zlib's thread pool, refusing past `limit` actual output bytes. */
function inflateCapped(raw: Uint8Array, limit: number, onTooLarge: () => BundleError): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK_BYTES });
    const chunks: Buffer[] = [];
    let total = 0;
    inflate.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        chunks.length = 0;
        inflate.destroy(onTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    inflate.on('error', reject);
    inflate.on('end', () => resolve(Buffer.concat(chunks, total)));
    inflate.end(raw);
  });
}

/** Unpacks zip entries one at a time, counting what they actually inflate to against the limits. */
class ZipReader {
  private inflated = 0;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly limits: BundleLimits,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  async read(e: ZipEntry, name: string): Promise<Uint8Array> {
    const corrupt = (why: string) =>
      new BundleError([
        {
          code: 'BUNDLE_CORRUPT',
          message: `Archive entry "${name}" cannot be unpacked: ${why}.`,
          file: name,
        },
      ]);
    const perEntry = this.limits.maxEntryBytes ?? this.limits.maxUnpackedBytes;
    // Declared sizes only refuse early: an honest entry past the cap is never inflated.
    if (e.size > perEntry)
      throw tooLarge(
        `Archive entry "${name}" unpacks to ${e.size} bytes; a bundle file may be at most ${perEntry} bytes (FLASHFARM_MAX_UPLOAD_MB).`,
      );
    const at = e.localOffset;
    if (at + 30 > this.data.length || this.view.getUint32(at, true) !== LOCAL_HEADER_SIG)
      throw corrupt('its local header is missing');
    const start = at + 30 + this.view.getUint16(at + 26, true) + this.view.getUint16(at + 28, true);
    const raw = this.data.subarray(start, start + e.compressedSize);
    if (raw.length !== e.compressedSize) throw corrupt('its data runs past the end of the archive');
    const limit = Math.min(perEntry, this.limits.maxUnpackedBytes - this.inflated);
    const refuse = () =>
      tooLarge(
        limit === perEntry
          ? `Archive entry "${name}" unpacks to more than ${perEntry} bytes (it declares ${e.size}); a bundle file may be at most ${perEntry} bytes (FLASHFARM_MAX_UPLOAD_MB).`
          : `The bundle unpacks to more than ${this.limits.maxUnpackedBytes} bytes.`,
      );
    let out: Uint8Array;
    if (e.method === STORED) {
      if (raw.length > limit) throw refuse();
      out = raw;
    } else if (e.method === DEFLATED) {
      try {
        out = await inflateCapped(raw, limit, refuse);
      } catch (error) {
        if (error instanceof BundleError) throw error;
        throw corrupt((error as Error).message);
      }
    } else
      throw new BundleError([
        {
          code: 'BUNDLE_UNSUPPORTED',
          message: `Archive entry "${name}" uses compression method ${e.method}; bundles use stored or deflated entries.`,
          file: name,
        },
      ]);
    this.inflated += out.length;
    if (out.length !== e.size) throw corrupt(`it unpacks to ${out.length} bytes, not its declared ${e.size}`);
    if (zlib.crc32(out) !== e.crc) throw corrupt('its CRC-32 does not match');
    return out;
  }
}

function readZip(data: Uint8Array, limits: BundleLimits): Map<string, () => Promise<Uint8Array>> {
  const checker = new EntryChecker(limits);
  const safe = new Map<string, ZipEntry>();
  for (const e of zipEntries(data)) {
    const name = checker.add(e.name, e.size, e.kind);
    if (name) safe.set(name, e);
  }
  if (checker.problems.length) throw new BundleError(checker.problems);
  const reader = new ZipReader(data, limits);
  return new Map([...safe].map(([name, e]) => [name, () => reader.read(e, name)]));
}

// ---- tar.gz: streamed twice (names first, then only the wanted files), so memory stays bounded.

async function scanTarGz(
  data: Uint8Array,
  limits: BundleLimits,
  keep: (name: string) => boolean,
): Promise<{ names: Set<string>; kept: Map<string, Uint8Array> }> {
  const checker = new EntryChecker(limits);
  const names = new Set<string>();
  const kept = new Map<string, Uint8Array>();
  let unpacked = 0;
  const gunzip = zlib.createGunzip();
  gunzip.on('data', (chunk: Buffer) => {
    unpacked += chunk.length;
    // Tar headers and padding add up to 1 KiB per entry; the cap is on what was inflated.
    if (unpacked > limits.maxUnpackedBytes + 1024 * (MAX_BUNDLE_ENTRIES + 2))
      gunzip.destroy(
        new BundleError(
          [
            {
              code: 'BUNDLE_TOO_LARGE',
              message: `The bundle unpacks to more than ${limits.maxUnpackedBytes} bytes.`,
            },
          ],
          413,
        ),
      );
  });
  const extract = tar.extract();
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const kind =
        h.type === 'file' || h.type === 'contiguous-file'
          ? 'file'
          : h.type === 'directory'
            ? 'directory'
            : h.type === 'symlink' || h.type === 'link'
              ? 'link'
              : 'other';
      const name = checker.add(h.name, h.size ?? 0, kind);
      const perEntry = limits.maxEntryBytes ?? limits.maxUnpackedBytes;
      if (name && keep(name) && (h.size ?? 0) > perEntry)
        throw tooLarge(
          `Archive entry "${name}" unpacks to ${h.size} bytes; a bundle file may be at most ${perEntry} bytes (FLASHFARM_MAX_UPLOAD_MB).`,
        );
      if (name && keep(name)) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        kept.set(name, Buffer.concat(chunks));
      } else {
        entry.resume();
        await new Promise<void>((resolve, reject) => {
          entry.on('end', resolve);
          entry.on('error', reject);
        });
      }
      if (name) names.add(name);
    }
  })();
  try {
    await Promise.all([pipeline(Readable.from([data]), gunzip, extract), consume]);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError([
      {
        code: 'BUNDLE_CORRUPT',
        message: `The .tar.gz archive cannot be read: ${(error as Error).message}.`,
      },
    ]);
  }
  if (checker.problems.length) throw new BundleError(checker.problems);
  return { names, kept };
}

function pickArgsPath(names: Iterable<string>): string {
  const candidates = [...names].filter((n) => n === FLASHER_ARGS || n.endsWith(`/${FLASHER_ARGS}`));
  if (candidates.length === 0)
    throw new BundleError([
      {
        code: 'BAD_FLASHER_ARGS',
        message: `The bundle has no ${FLASHER_ARGS}; it must hold ESP-IDF's build/${FLASHER_ARGS} and the files it names.`,
      },
    ]);
  const depth = (n: string) => n.split('/').length;
  candidates.sort((a, b) => depth(a) - depth(b));
  if (candidates.length > 1 && depth(candidates[0]) === depth(candidates[1]))
    throw new BundleError([
      {
        code: 'BAD_FLASHER_ARGS',
        message: `The bundle has more than one ${FLASHER_ARGS} (${candidates.slice(0, 3).join(', ')}); upload one build at a time.`,
      },
    ]);
  return candidates[0];
}

function resolveFiles(argsPath: string, args: FlasherArgs, available: (path: string) => boolean) {
  const base = argsPath.includes('/') ? argsPath.slice(0, argsPath.lastIndexOf('/') + 1) : '';
  const missing: BundleProblem[] = [];
  const files = args.files.map((f) => ({ ...f, entry: base + f.path }));
  for (const f of files)
    if (!available(f.entry))
      missing.push({
        code: 'BUNDLE_MISSING_FILE',
        message: `${FLASHER_ARGS} names "${f.path}" at 0x${f.offset.toString(16)}, but the bundle has no ${f.entry}.`,
        file: f.path,
      });
  if (missing.length) throw new BundleError(missing);
  return files;
}

function parseArgs(text: Uint8Array, argsPath: string): FlasherArgs {
  if (text.length > MAX_FLASHER_ARGS_BYTES)
    throw new BundleError([
      {
        code: 'BAD_FLASHER_ARGS',
        message: `${argsPath} is ${text.length} bytes; that is not a flasher_args.json.`,
      },
    ]);
  try {
    return parseFlasherArgs(new TextDecoder().decode(text));
  } catch (error) {
    if (error instanceof ImageError)
      throw new BundleError(
        error.problems.map((p) => ({ code: p.code, message: p.message, file: argsPath })),
      );
    throw error;
  }
}

/** Reads an ESP-IDF bundle (.zip or .tar.gz); throws BundleError listing what is wrong. */
export async function readIdfBundle(data: Uint8Array, limits: BundleLimits): Promise<IdfBundle> {
  const kind = archiveKind(data);
  if (kind === 'zip') {
    const entries = readZip(data, limits);
    const argsPath = pickArgsPath(entries.keys());
    const args = parseArgs(await entries.get(argsPath)!(), argsPath);
    const files = resolveFiles(argsPath, args, (p) => entries.has(p));
    // One at a time: the caps hold across entries, and memory holds one inflating entry at most.
    const out: IdfBundle['files'] = [];
    for (const f of files) out.push({ offset: f.offset, path: f.path, data: await entries.get(f.entry)!() });
    return { argsPath, args, files: out };
  }
  if (kind === 'tar.gz') {
    const first = await scanTarGz(data, limits, (n) => n.endsWith(FLASHER_ARGS));
    const argsPath = pickArgsPath(first.names);
    const args = parseArgs(first.kept.get(argsPath)!, argsPath);
    const files = resolveFiles(argsPath, args, (p) => first.names.has(p));
    const wanted = new Set(files.map((f) => f.entry));
    const second = await scanTarGz(data, limits, (n) => wanted.has(n));
    return {
      argsPath,
      args,
      files: files.map((f) => ({ offset: f.offset, path: f.path, data: second.kept.get(f.entry)! })),
    };
  }
  throw new BundleError([
    { code: 'BUNDLE_UNSUPPORTED', message: 'A bundle must be a .zip or a .tar.gz archive.' },
  ]);
}
