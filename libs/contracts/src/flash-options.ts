/** Options a job gives to every run it creates. */
export interface FlashOptions {
  /** Verify every region by MD5 after writing. On by default; a run succeeds only when verified. */
  verify: boolean;
  /** Erase the whole flash before writing. */
  eraseAll: boolean;
  /** Starting baud for the data phase; the flasher falls back down the ladder on line errors. */
  baud?: number;
  /** Compare each region's MD5 on the chip first and write only what differs. */
  skipUnchanged: boolean;
  /** Bootloader header overrides ('keep' leaves the image's value). */
  flashMode?: 'keep' | 'qio' | 'qout' | 'dio' | 'dout';
  flashFreq?: string;
  flashSize?: string;
  /** After the hard reset, read the console and require this pattern. */
  bootCheck?: { pattern: string; timeoutMs: number; baud?: number };
}

/** Defaults the api fills in for omitted options. */
export const DEFAULT_FLASH_OPTIONS: FlashOptions = {
  verify: true,
  eraseAll: false,
  skipUnchanged: false,
};

/** Which boards a job targets. */
export type JobTarget =
  | { kind: 'device'; device: string } // device id or MAC
  | { kind: 'selector'; selector: DeviceSelector; count: number }
  | { kind: 'all'; selector: DeviceSelector };

/** Attributes a board must have to be eligible. All given fields must match; tags must all be present. */
export interface DeviceSelector {
  chip?: string;
  pool?: string;
  tags?: string[];
}
