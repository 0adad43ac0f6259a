import { describe, expect, it } from '@jest/globals';
import { globToRegExp, PortFilter } from './port-filter.js';
import { capBaud, findBridge } from './usb-bridges.js';

describe('port filter', () => {
  it('keeps * inside one path segment and lets ** cross segments', () => {
    expect(globToRegExp('/dev/ttyUSB*').test('/dev/ttyUSB12')).toBe(true);
    expect(globToRegExp('/dev/*').test('/dev/serial/by-id/x')).toBe(false);
    expect(globToRegExp('/dev/**').test('/dev/serial/by-id/x')).toBe(true);
    expect(globToRegExp('/dev/ttyACM?').test('/dev/ttyACM3')).toBe(true);
    expect(globToRegExp('/dev/ttyACM?').test('/dev/ttyACM30')).toBe(false);
    expect(globToRegExp('/dev/tty.usb(1)').test('/dev/tty.usb(1)')).toBe(true);
  });

  it('accepts everything without allow globs, and deny wins over allow on any name of the port', () => {
    expect(new PortFilter({ allow: [], deny: [] }).accepts(['/dev/ttyUSB0'])).toBe(true);
    const filter = new PortFilter({
      allow: ['/dev/ttyUSB*', '/dev/serial/by-id/*Espressif*'],
      deny: ['/dev/serial/by-id/*Console*'],
    });
    expect(filter.accepts(['/dev/ttyUSB0', undefined])).toBe(true);
    expect(filter.accepts(['/dev/ttyACM0', '/dev/serial/by-id/usb-Espressif_USB_JTAG'])).toBe(true);
    expect(filter.accepts(['/dev/ttyACM1', '/dev/serial/by-id/usb-Other'])).toBe(false);
    expect(filter.accepts(['/dev/ttyUSB3', '/dev/serial/by-id/usb-FTDI_Console'])).toBe(false);
  });
});

describe('USB bridges', () => {
  it('knows the bridges on Espressif boards by VID:PID, in any case and padding', () => {
    expect(findBridge('10C4', 'EA60')?.name).toBe('cp210x');
    expect(findBridge('1a86', '55d4')?.name).toBe('ch9102');
    expect(findBridge('403', '6010')?.name).toBe('ft2232');
    expect(findBridge('303a', '1001')).toMatchObject({
      name: 'esp-usb-serial-jtag',
      nativeUsb: true,
      resetStrategy: 'usb-jtag',
    });
    expect(findBridge('303a', '0002')?.nativeUsb).toBe(true);
    expect(findBridge('303a', '0012')?.name).toBe('esp-usb-otg-cdc');
    expect(findBridge('dead', 'beef')).toBeUndefined();
    expect(findBridge(undefined, 'ea60')).toBeUndefined();
  });

  it('caps the starting baud at the bridge limit and leaves unknown links alone', () => {
    expect(capBaud(2_000_000, findBridge('10c4', 'ea60'))).toBe(921_600);
    expect(capBaud(460_800, findBridge('10c4', 'ea60'))).toBe(460_800);
    expect(capBaud(2_000_000, undefined)).toBe(2_000_000);
  });
});
