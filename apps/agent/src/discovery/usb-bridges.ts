/**
 * USB-to-UART bridges found on Espressif boards, by USB vendor/product ID,
 * with the highest data-phase baud we start at on each. A board behind an
 * unknown bridge is still used; it just gets no cap.
 */

/** A known bridge. */
export interface UsbBridge {
  /** Stable name stored with a port attachment and with learned bauds. */
  name: string;
  vendorId: string;
  productId: string;
  /** Highest baud on the flasher's ladder this bridge carries reliably. */
  maxBaud: number;
  /** The chip's own USB peripheral, not a bridge chip. */
  nativeUsb: boolean;
  /** Reset strategy to try first (the flasher's default list assumes an auto-reset circuit). */
  resetStrategy?: string;
}

/** Bridges seen on DevKits and production fixtures. */
export const KNOWN_BRIDGES: readonly UsbBridge[] = [
  // Silicon Labs: CP2102/CP2104 (ea60) run to ~1 Mbaud; the next ladder step down is 921 600.
  { name: 'cp210x', vendorId: '10c4', productId: 'ea60', maxBaud: 921_600, nativeUsb: false },
  { name: 'cp2105', vendorId: '10c4', productId: 'ea70', maxBaud: 921_600, nativeUsb: false },
  // WCH: CH340/CH341 reach 2 Mbaud; CH343 and CH9102 go beyond the ladder's top.
  { name: 'ch340', vendorId: '1a86', productId: '7523', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ch341', vendorId: '1a86', productId: '5523', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ch343', vendorId: '1a86', productId: '55d3', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ch9102', vendorId: '1a86', productId: '55d4', maxBaud: 2_000_000, nativeUsb: false },
  // FTDI: FT232R to 3 Mbaud, the FT2232/FT4232/FT232H high-speed parts to 12 Mbaud.
  { name: 'ft232r', vendorId: '0403', productId: '6001', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ft2232', vendorId: '0403', productId: '6010', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ft4232', vendorId: '0403', productId: '6011', maxBaud: 2_000_000, nativeUsb: false },
  { name: 'ft232h', vendorId: '0403', productId: '6014', maxBaud: 2_000_000, nativeUsb: false },
  // Espressif's own USB: the baud setting is ignored by the peripheral, so the ladder's top is fine.
  // USB-Serial/JTAG: DTR/RTS are decoded by the peripheral itself (its own reset sequence).
  {
    name: 'esp-usb-serial-jtag',
    vendorId: '303a',
    productId: '1001',
    maxBaud: 2_000_000,
    nativeUsb: true,
    resetStrategy: 'usb-jtag',
  },
  { name: 'esp-usb-otg-cdc', vendorId: '303a', productId: '0002', maxBaud: 2_000_000, nativeUsb: true },
  { name: 'esp-usb-otg-cdc', vendorId: '303a', productId: '0009', maxBaud: 2_000_000, nativeUsb: true },
  // The ROM's USB-OTG CDC uses the chip ID as PID: S2 0x0002, S3 0x0009, P4 0x0012.
  { name: 'esp-usb-otg-cdc', vendorId: '303a', productId: '0012', maxBaud: 2_000_000, nativeUsb: true },
];

/** The bridge with this VID:PID (hex, any case), if we know it. */
export function findBridge(vendorId?: string, productId?: string): UsbBridge | undefined {
  if (!vendorId || !productId) return undefined;
  const vid = vendorId.toLowerCase().padStart(4, '0');
  const pid = productId.toLowerCase().padStart(4, '0');
  return KNOWN_BRIDGES.find((b) => b.vendorId === vid && b.productId === pid);
}

/** A starting baud no higher than the bridge carries. */
export function capBaud(baud: number, bridge: UsbBridge | undefined): number {
  return bridge ? Math.min(baud, bridge.maxBaud) : baud;
}
