export type { ModemInputs, SimPortHandle } from './port.js';
/** Simulated ESP boards: ROM and stub loaders, flash, reset circuit, UART timing, faults. */
export { SimBoard, defaultMac } from './board.js';
export type { SimBoardInfo, SimBoardOptions, SimFaults, SimFlashCounters } from './board.js';
export { BOARD_PROFILES, boardProfileNames, isBoardProfileName } from './board-profiles.js';
export type { BoardProfile, BoardProfileName, UsbIdentity, Wiring } from './board-profiles.js';
export type { ChipMode } from './chip.js';
export { CHIPS, chipNames, getChip, isChipName } from './chips/index.js';
export type { ChipDefinition, ChipIdentity, ChipName, ResetCause } from './chips/types.js';
export { formatMac } from './chips/types.js';
export { SimError, SimErrorCode, SimPortBusyError, SimUnpluggedError } from './errors.js';
export {
  FLASH_BLOCK_BYTES,
  FLASH_PAGE_BYTES,
  FLASH_SECTOR_BYTES,
  FLASH_TIMING_MS,
  SimFlash,
} from './flash-memory.js';
export type { FlashDifference, SimFlashOptions } from './flash-memory.js';
export { KNOWN_STUBS, NEWEST_STUB_RELEASE, recogniseRamCode } from './stub-catalogue.js';
export type { KnownStub, RamCode, RamSegment } from './stub-catalogue.js';
export type { StubBehaviour, StubFamily } from './stub-behaviour.js';
export * from './rfc2217/index.js';
export {
  SINGLE_APP_PARTITIONS,
  buildAppDescriptor,
  buildImage,
  bootableAppImages,
  buildPartitionTable,
  installBootableApp,
} from './image-builder.js';
export type {
  AppDescriptorFields,
  BuildImageOptions,
  BuiltSegment,
  FlashRegion,
  PartitionEntry,
  ProgrammableFlash,
} from './image-builder.js';
export { parseAppDescriptor, parseImage, parsePartitionTable } from './firmware-image.js';
export type { AppDescriptor, ImageInfo, Partition } from './firmware-image.js';
/** A small host side of the protocol for tests of the simulator (independent of libs/esp). */
export * as simTesting from './testing/host-client.js';
/** Recorded client sessions: the fixture format and SLIP framing helpers for recording and replay. */
export * as simTraffic from './testing/traffic.js';
export { slipEncode } from './slip.js';
