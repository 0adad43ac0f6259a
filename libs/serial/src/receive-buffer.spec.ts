import { describe, expect, it } from '@jest/globals';
import { FlashErrorCode } from '#contracts';
import { ReceiveBuffer } from './receive-buffer.js';
import { TransportError } from './transport-error.js';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof TransportError ? err.code : undefined;
}

describe('ReceiveBuffer', () => {
  it('returns buffered bytes at once, at most maxBytes, across chunk boundaries', async () => {
    const buffer = new ReceiveBuffer('test');
    buffer.push(Uint8Array.of(1, 2));
    buffer.push(Uint8Array.of(3, 4, 5));
    expect([...(await buffer.read(0, 3))]).toEqual([1, 2, 3]);
    expect(buffer.available).toBe(2);
    expect([...(await buffer.read(0))]).toEqual([4, 5]);
  });

  it('wakes a waiting reader on arrival and times out when nothing comes', async () => {
    const buffer = new ReceiveBuffer('test');
    const waiting = buffer.read(1_000);
    buffer.push(Uint8Array.of(9));
    expect([...(await waiting)]).toEqual([9]);
    await expect(codeOf(buffer.read(10))).resolves.toBe(FlashErrorCode.TIMEOUT);
  });

  it('copies pushed bytes (sources may reuse their buffers)', async () => {
    const buffer = new ReceiveBuffer('test');
    const source = Uint8Array.of(1, 2, 3);
    buffer.push(source);
    source.fill(0);
    expect([...(await buffer.read(0))]).toEqual([1, 2, 3]);
  });

  it('after fail(): buffered bytes are still readable, then every read rejects; reset() revives it', async () => {
    const buffer = new ReceiveBuffer('test');
    buffer.push(Uint8Array.of(7));
    const gone = new TransportError(FlashErrorCode.DEVICE_GONE, 'gone');
    buffer.fail(gone);
    buffer.push(Uint8Array.of(8)); // ignored after failure
    expect([...(await buffer.read(0))]).toEqual([7]);
    await expect(codeOf(buffer.read(1_000))).resolves.toBe(FlashErrorCode.DEVICE_GONE);
    buffer.reset();
    await expect(codeOf(buffer.read(5))).resolves.toBe(FlashErrorCode.TIMEOUT);
  });

  it('rejects pending readers at once on fail() and refuses maxBytes below 1', async () => {
    const buffer = new ReceiveBuffer('test');
    const pending = buffer.read(60_000);
    buffer.fail(new TransportError(FlashErrorCode.CANCELLED, 'closed'));
    await expect(codeOf(pending)).resolves.toBe(FlashErrorCode.CANCELLED);
    await expect(codeOf(new ReceiveBuffer('x').read(10, 0))).resolves.toBe(FlashErrorCode.INVALID_ARGUMENT);
  });
});
