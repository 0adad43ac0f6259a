import { describe, expect, it } from '@jest/globals';
import { createTransport, transportKind } from './open-transport.js';
import { Rfc2217Transport } from './rfc2217-transport.js';
import { SerialPortTransport } from './serial-port-transport.js';
import { parseSocketUrl, SocketTransport } from './socket-transport.js';

describe('transportKind / createTransport', () => {
  it('picks the implementation from the port name', () => {
    expect(transportKind('/dev/ttyUSB0')).toBe('serial');
    expect(transportKind('/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0')).toBe('serial');
    expect(transportKind('COM3')).toBe('serial');
    expect(transportKind('rfc2217://10.0.0.5:4000')).toBe('rfc2217');
    expect(transportKind('socket://10.0.0.5:4000')).toBe('socket');
    expect(transportKind('sim://esp32-1')).toBe('sim');
    expect(() => transportKind('ttyUSB0')).toThrow(/not a port/);
  });

  it('creates without opening, with the port name as the transport name', () => {
    const rfc = createTransport('rfc2217://10.0.0.5:4000?ign_set_control');
    expect(rfc).toBeInstanceOf(Rfc2217Transport);
    expect(rfc.name).toBe('rfc2217://10.0.0.5:4000');
    expect(rfc.isOpen).toBe(false);
    const serial = createTransport('/dev/ttyUSB7');
    expect(serial).toBeInstanceOf(SerialPortTransport);
    expect(serial.name).toBe('/dev/ttyUSB7');
    const socket = createTransport('socket://[::1]:3333');
    expect(socket).toBeInstanceOf(SocketTransport);
    expect(socket.name).toBe('socket://[::1]:3333');
  });

  it('parses socket:// URLs as pyserial spells them and names what is wrong', () => {
    expect(parseSocketUrl('socket://bridge.local:23')).toEqual({ host: 'bridge.local', port: 23 });
    expect(parseSocketUrl('socket://10.0.0.9:4000?logging=debug')).toEqual({ host: '10.0.0.9', port: 4000 });
    expect(() => parseSocketUrl('socket://host')).toThrow(
      /not a socket URL; expected socket:\/\/<host>:<port>/,
    );
    expect(() => parseSocketUrl('socket://host:70000')).toThrow(/port 70000 is out of range/);
    expect(() => parseSocketUrl('socket://host:23?nodelay')).toThrow(/unknown option "nodelay"/);
  });
});
