import { z } from 'zod';

/** Options a job gives to every run it creates (as the api stores them: defaults filled in). */
export const FlashOptions = z
  .object({
    /** Verify every region by MD5 after writing. On by default; a run succeeds only when verified. */
    verify: z.boolean(),
    /** Erase the whole flash before writing. */
    eraseAll: z.boolean(),
    /** Starting baud for the data phase; the flasher falls back down the ladder on line errors. */
    baud: z.number().int().optional(),
    /** Compare each region's MD5 on the chip first and write only what differs. */
    skipUnchanged: z.boolean(),
    /** Bootloader header overrides ('keep' leaves the image's value). */
    flashMode: z.enum(['keep', 'qio', 'qout', 'dio', 'dout']).optional(),
    flashFreq: z.string().optional(),
    flashSize: z.string().optional(),
    /** After the hard reset, read the console and require this pattern. */
    bootCheck: z
      .object({ pattern: z.string(), timeoutMs: z.number().int(), baud: z.number().int().optional() })
      .strict()
      .optional(),
  })
  .strict();
/** Options a job gives to every run it creates. */
export type FlashOptions = z.infer<typeof FlashOptions>;

/** Defaults the api fills in for omitted options. */
export const DEFAULT_FLASH_OPTIONS: FlashOptions = {
  verify: true,
  eraseAll: false,
  skipUnchanged: false,
};

/** Attributes a board must have to be eligible. All given fields must match; tags must all be present. */
export const DeviceSelector = z
  .object({
    chip: z.string().optional(),
    pool: z.string().optional(),
    tags: z.array(z.string()).optional(),
  })
  .strict();
/** Attributes a board must have to be eligible. */
export type DeviceSelector = z.infer<typeof DeviceSelector>;

/** Which boards a job targets. */
export type JobTarget =
  | { kind: 'device'; device: string } // device id or MAC
  | { kind: 'selector'; selector: DeviceSelector; count: number }
  | { kind: 'all'; selector: DeviceSelector };
