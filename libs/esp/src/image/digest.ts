import { createHash } from 'node:crypto';

/** Lowercase hex SHA-256. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Raw SHA-256 bytes. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Lowercase hex MD5 (what the ROM's SPI_FLASH_MD5 returns). */
export function md5Hex(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The image checksum: 0xEF XOR every byte of every segment's data. */
export const IMAGE_CHECKSUM_SEED = 0xef;

/** Folds bytes into an image checksum. */
export function xorChecksum(data: Uint8Array, seed: number = IMAGE_CHECKSUM_SEED): number {
  let sum = seed;
  for (let i = 0; i < data.length; i++) sum ^= data[i];
  return sum & 0xff;
}
