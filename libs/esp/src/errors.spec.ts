import { describe, expect, it } from '@jest/globals';
import { EspError, RomError, StubError } from './errors.js';

describe('EspError', () => {
  it('keeps the cause and serialises its fields', () => {
    const cause = new Error('inner');
    const err = new EspError('outer', { code: 'TIMEOUT', stage: 'sync', command: 0x08, cause });
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('EspError');
    expect(err.toJSON()).toMatchObject({ code: 'TIMEOUT', stage: 'sync', command: 8, message: 'outer' });
  });
});

describe('RomError', () => {
  it('names the ROM status and classifies it', () => {
    const err = new RomError(1, 0x07, { command: 0x03, stage: 'write' });
    expect(err.code).toBe('FRAMING');
    expect(err.message).toContain('0x107');
    expect(err.message).toContain('checksum error');
    expect(err.message).toContain('0x03');
    expect(err.detail).toMatchObject({ failed: 1, error: 7 });
    expect(new RomError(1, 0x08).code).toBe('FLASH_ERROR');
    expect(new RomError(1, 0x05).code).toBe('ROM_ERROR');
    expect(new RomError(1, 0x42).meaning).toBe('unknown ROM error');
  });
});

describe('StubError', () => {
  it('names the stub status and classifies it', () => {
    const err = new StubError(0xc4, 0, { command: 0x11 });
    expect(err.code).toBe('FLASH_ERROR');
    expect(err.message).toContain('0xc400');
    expect(err.message).toContain('failed SPI operation');
    expect(new StubError(0xc1, 0).code).toBe('FRAMING');
    expect(new StubError(0xc6, 0).code).toBe('STUB_ERROR');
    expect(new StubError(0xc6, 0, { code: 'INTERNAL' }).code).toBe('INTERNAL');
  });
});
