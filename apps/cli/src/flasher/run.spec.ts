import { describe, expect, it } from '@jest/globals';
import type { Transport } from '#esp';
import { parseArgs, parseSize } from './args.js';
import { runFlasherCli } from './run.js';

function capture(): { write(t: string): void; text: () => string } {
  let buf = '';
  return { write: (t: string) => void (buf += t), text: () => buf };
}

describe('parseArgs', () => {
  it('splits positionals, boolean flags, value flags and repeated pairs', () => {
    const a = parseArgs([
      'erase',
      '/dev/ttyUSB0',
      '--region',
      '0x1000',
      '4k',
      '--region=0x9000',
      '0x1000',
      '--no-stub',
      '--baud',
      '460800',
    ]);
    expect(a.command).toBe('erase');
    expect(a.positionals).toEqual(['/dev/ttyUSB0']);
    expect(a.flags.get('region')).toEqual(['0x1000', '4k', '0x9000', '0x1000']);
    expect(a.flags.has('no-stub')).toBe(true);
    expect(a.flags.get('baud')).toEqual(['460800']);
  });

  it('parses hex, decimal and k/M sizes', () => {
    expect(parseSize('0x10000', 'x')).toBe(0x10000);
    expect(parseSize('4096', 'x')).toBe(4096);
    expect(parseSize('64k', 'x')).toBe(65536);
    expect(parseSize('4M', 'x')).toBe(4 * 1048576);
    expect(() => parseSize('ten', 'Offset')).toThrow(/Offset "ten" is not a number/);
  });
});

describe('runFlasherCli', () => {
  const neverOpen = (): Promise<Transport> => Promise.reject(new Error('must not open a port'));

  it('rejects a bad reset sequence before touching the port, naming the token (exit 2)', async () => {
    const err = capture();
    const code = await runFlasherCli(['info', 'sim://x', '--reset', 'D0|R1|Q5'], {
      openTransport: neverOpen,
      stderr: err,
      stdout: capture(),
    });
    expect(code).toBe(2);
    expect(err.text()).toContain('"Q5"');
  });

  it('rejects unknown options and odd offset/file lists with exit 2', async () => {
    const err = capture();
    expect(
      await runFlasherCli(['flash', 'sim://x', '--bogus'], {
        openTransport: neverOpen,
        stderr: err,
        stdout: capture(),
      }),
    ).toBe(2);
    expect(err.text()).toContain('Unknown option --bogus');
    expect(
      await runFlasherCli(['flash', 'sim://x', '0x1000'], {
        openTransport: neverOpen,
        stderr: err,
        stdout: capture(),
      }),
    ).toBe(2);
    expect(
      await runFlasherCli(['flash', 'sim://x', '0x1000', '/nonexistent/file.bin'], {
        openTransport: neverOpen,
        stderr: err,
        stdout: capture(),
      }),
    ).toBe(2);
    expect(err.text()).toContain('Cannot read /nonexistent/file.bin');
  });

  it('maps a transport open failure to its exit code and message', async () => {
    const err = capture();
    const busy = Object.assign(new Error('/dev/ttyUSB0 is busy: close the other program using it'), {
      code: 'PORT_BUSY',
    });
    const code = await runFlasherCli(['info', '/dev/ttyUSB0'], {
      openTransport: () => Promise.reject(busy),
      stderr: err,
      stdout: capture(),
    });
    expect(code).toBe(8);
    expect(err.text()).toContain('error [PORT_BUSY]');
  });
});
