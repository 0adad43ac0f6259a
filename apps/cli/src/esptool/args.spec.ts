import { describe, expect, it } from '@jest/globals';
import { parseCommandLine, parseInteger, parseSizeArg } from './args.js';
import { ESPTOOL_COMMANDS, GLOBAL_OPTIONS } from './commands.js';
import { candidatePorts } from './ports.js';

const parse = (argv: string[]) =>
  parseCommandLine(argv, GLOBAL_OPTIONS, (n) => ESPTOOL_COMMANDS[n]?.options, Object.keys(ESPTOOL_COMMANDS));

describe('esptool command line', () => {
  it('reads global options before the command and command options after it, as esptool does', () => {
    const p = parse([
      '-p',
      '/dev/ttyUSB0',
      '-b',
      '921600',
      '--before',
      'default-reset',
      '--after',
      'hard-reset',
      'write-flash',
      '-z',
      '--flash-mode',
      'dio',
      '-fs',
      '4MB',
      '0x1000',
      'bootloader.bin',
      '0x10000',
      'app.bin',
    ]);
    expect(p.command).toBe('write-flash');
    expect(Object.fromEntries(p.globals)).toEqual({
      port: ['/dev/ttyUSB0'],
      baud: ['921600'],
      before: ['default-reset'],
      after: ['hard-reset'],
    });
    expect(Object.fromEntries(p.options)).toEqual({
      compress: [],
      'flash-mode': ['dio'],
      'flash-size': ['4MB'],
    });
    expect(p.positionals).toEqual(['0x1000', 'bootloader.bin', '0x10000', 'app.bin']);
  });

  it('gives the same letter its meaning by position: -p is the port before write-flash and --no-progress after it', () => {
    const p = parse(['-p', 'COM3', 'write-flash', '-p', '-s', '0x0', 'a.bin']);
    expect(p.globals.get('port')).toEqual(['COM3']);
    expect(p.options.has('no-progress')).toBe(true);
    expect(p.options.has('skip-flashed')).toBe(true);
    expect(p.globals.has('silent')).toBe(false);
  });

  it('takes --opt=value, glued short values, the longest short name, and global long options after the command', () => {
    const p = parse([
      '-b921600',
      '--chip=esp32',
      'merge-bin',
      '-fs',
      '4MB',
      '-f',
      'hex',
      '-o',
      'out.hex',
      '--port',
      'x',
      '0x0',
      'a.bin',
    ]);
    expect(p.globals.get('baud')).toEqual(['921600']);
    expect(p.globals.get('chip')).toEqual(['esp32']);
    expect(p.globals.get('port')).toEqual(['x']);
    expect(p.options.get('flash-size')).toEqual(['4MB']);
    expect(p.options.get('format')).toEqual(['hex']);
  });

  it('accepts the v4 spellings with the warnings esptool v5 prints', () => {
    const p = parse(['write_flash', '--flash_size', '4MB', '0x0', 'a.bin']);
    expect(p.command).toBe('write-flash');
    expect(p.options.get('flash-size')).toEqual(['4MB']);
    expect(p.warnings).toEqual([
      "Deprecated: Command 'write_flash' is deprecated. Use 'write-flash' instead.",
      "Deprecated: Option '--flash_size' is deprecated. Use '--flash-size' instead.",
    ]);
    expect(
      parse(['--chip', 'esp32', 'merge_bin', '--fill-flash-size', '4MB']).options.get('pad-to-size'),
    ).toEqual(['4MB']);
  });

  it('lets --port-filter eat values up to the next option or the command', () => {
    const p = parse(['--port-filter', 'vid=0x303a', 'serial=AB', '-b', '460800', 'read-mac']);
    expect(p.globals.get('port-filter')).toEqual(['vid=0x303a', 'serial=AB']);
    expect(parse(['--port-filter', 'name=ttyUSB', 'read-mac']).command).toBe('read-mac');
  });

  it('names an unknown option and a missing value', () => {
    expect(() => parse(['write-flash', '--bogus'])).toThrow('No such option for "write-flash": --bogus.');
    expect(() => parse(['--bogus', 'read-mac'])).toThrow('No such option before the command: --bogus.');
    expect(() => parse(['-b'])).toThrow('Option --baud requires a value.');
    expect(() => parse(['write-flash', '--force=yes'])).toThrow('Option --force takes no value.');
  });

  it('reads integers in every base Python does, and sizes with k/M and "all"', () => {
    expect(parseInteger('0x1000', 'a')).toBe(4096);
    expect(parseInteger('4096', 'a')).toBe(4096);
    expect(parseInteger('0o10', 'a')).toBe(8);
    expect(parseInteger('0b101', 'a')).toBe(5);
    expect(() => parseInteger('010', 'Address')).toThrow('Address "010" is not a valid integer');
    expect(() => parseInteger('12k', 'Address')).toThrow(/not a valid integer/);
    expect(parseSizeArg('64k', 's', false)).toBe(65536);
    expect(parseSizeArg('4M', 's', false)).toBe(4 * 1024 * 1024);
    expect(parseSizeArg('ALL', 's', true)).toBe('all');
    expect(() => parseSizeArg('all', 'Size', false)).toThrow(/Size "all"/);
  });
});

describe('port choice without -p', () => {
  const ports = [
    { path: '/dev/ttyS0' },
    { path: '/dev/ttyUSB1', vendorId: '10c4', productId: 'ea60', serialNumber: '0001' },
    { path: '/dev/ttyACM0', vendorId: '303a', productId: '1001', serialNumber: 'F4:12' },
    { path: '/dev/ttyUSB0', vendorId: '1a86', productId: '7523', serialNumber: 'X9' },
  ];
  const none = { vids: [], pids: [], names: [], serials: [] };

  it("tries Espressif's own USB first, then USB bridges, then the rest (esptool's order)", () => {
    expect(candidatePorts(ports, none)).toEqual([
      '/dev/ttyACM0',
      '/dev/ttyUSB1',
      '/dev/ttyUSB0',
      '/dev/ttyS0',
    ]);
  });

  it('narrows the list by vid, pid, name and serial', () => {
    expect(candidatePorts(ports, { ...none, vids: [0x10c4] })).toEqual(['/dev/ttyUSB1']);
    expect(candidatePorts(ports, { ...none, pids: [0x7523] })).toEqual(['/dev/ttyUSB0']);
    expect(candidatePorts(ports, { ...none, names: ['ttyUSB'] })).toEqual(['/dev/ttyUSB1', '/dev/ttyUSB0']);
    expect(candidatePorts(ports, { ...none, serials: ['F4'] })).toEqual(['/dev/ttyACM0']);
  });
});
