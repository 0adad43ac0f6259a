export type { LineSignals, Transport } from './transport.js';
/** Typed errors of the flasher and image tools (EspError, RomError, StubError). */
export * from './errors.js';
/** Chip targets: detection, eFuse decoding, register layouts, flash tables. */
export * from './targets/index.js';
