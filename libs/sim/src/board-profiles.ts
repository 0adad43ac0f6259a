import { type ChipName } from './chips/types.js';

/**
 * How the host's DTR/RTS reach EN and the boot strap pin.
 * - `auto-reset`: the two-transistor circuit of DevKitC/NodeMCU boards (§3.5).
 * - `auto-reset-swapped`: the same circuit with DTR and RTS exchanged (a common board mistake).
 * - `usb-serial-jtag`: the chip's internal USB-Serial/JTAG peripheral (§3.7); no UART baud limits.
 * - `none`: lines not connected; only the BOOT and EN buttons work.
 */
export type Wiring = 'auto-reset' | 'auto-reset-swapped' | 'usb-serial-jtag' | 'none';

/** The USB identity a host sees for the board's serial port. */
export interface UsbIdentity {
  vid: number;
  pid: number;
  manufacturer: string;
  product: string;
}

/** A kind of board: how it is wired, how fast EN rises, what the host sees on USB. */
export interface BoardProfile {
  name: BoardProfileName;
  wiring: Wiring;
  /**
   * Real milliseconds from EN's release until the chip leaves reset and latches its straps: the
   * RC network on EN (the exact threshold delay is unpublished, §11.8; 5 ms is a few time
   * constants of the usual 10 kΩ / 0.1 µF). Line changes closer together than this reach the
   * loader; a gap longer than it (a network round trip per change) does not.
   */
  enRiseMs: number;
  usb: UsbIdentity;
  /** Chips the profile exists for. */
  chips: readonly ChipName[];
}

/** The board profiles the simulator knows. */
export type BoardProfileName = 'devkit' | 'devkit-swapped' | 'bare-module' | 'usb-serial-jtag';

/** Silicon Labs CP2102N, the USB-UART bridge of Espressif's DevKitC boards. */
const CP2102N: UsbIdentity = {
  vid: 0x10c4,
  pid: 0xea60,
  manufacturer: 'Silicon Labs',
  product: 'CP2102N USB to UART Bridge Controller',
};

const ALL_CHIPS: readonly ChipName[] = ['esp8266', 'esp32', 'esp32s2', 'esp32s3', 'esp32c3', 'esp32c6'];

/** Every profile, by name. */
export const BOARD_PROFILES: Readonly<Record<BoardProfileName, BoardProfile>> = {
  /** A DevKitC-style board: USB-UART bridge and the two-transistor auto-reset circuit. */
  devkit: { name: 'devkit', wiring: 'auto-reset', enRiseMs: 5, usb: CP2102N, chips: ALL_CHIPS },
  /** The same with DTR and RTS exchanged. */
  'devkit-swapped': {
    name: 'devkit-swapped',
    wiring: 'auto-reset-swapped',
    enRiseMs: 5,
    usb: CP2102N,
    chips: ALL_CHIPS,
  },
  /** A module on a bridge without the auto-reset circuit: BOOT and EN buttons only. */
  'bare-module': { name: 'bare-module', wiring: 'none', enRiseMs: 5, usb: CP2102N, chips: ALL_CHIPS },
  /**
   * The chip's own USB-Serial/JTAG port (ESP32-S3/C3/C6): Espressif's VID 303A, PID 1001
   * (esptool's USB_JTAG_SERIAL_PID). The peripheral resets the chip itself, no RC on EN.
   */
  'usb-serial-jtag': {
    name: 'usb-serial-jtag',
    wiring: 'usb-serial-jtag',
    enRiseMs: 0,
    usb: { vid: 0x303a, pid: 0x1001, manufacturer: 'Espressif', product: 'USB JTAG/serial debug unit' },
    chips: ['esp32s3', 'esp32c3', 'esp32c6'],
  },
};

/** Names of the board profiles. */
export const boardProfileNames = Object.keys(BOARD_PROFILES) as BoardProfileName[];

/** True for a known profile name. */
export function isBoardProfileName(name: string): name is BoardProfileName {
  return Object.hasOwn(BOARD_PROFILES, name);
}

/** The profile a wiring implies when no profile is named. */
export function profileForWiring(wiring: Wiring): BoardProfile {
  switch (wiring) {
    case 'auto-reset':
      return BOARD_PROFILES.devkit;
    case 'auto-reset-swapped':
      return BOARD_PROFILES['devkit-swapped'];
    case 'none':
      return BOARD_PROFILES['bare-module'];
    case 'usb-serial-jtag':
      return BOARD_PROFILES['usb-serial-jtag'];
  }
}
