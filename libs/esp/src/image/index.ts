export * from './problems.js';
export { sha256Hex, xorChecksum, IMAGE_CHECKSUM_SEED } from './digest.js';
export * from './app-descriptor.js';
export * from './parser.js';
export * from './partition-table.js';
export {
  buildImage,
  buildAppImage,
  buildBootloaderImage,
  buildFirmwareSet,
  codeLikePayload,
  type SegmentSpec,
  type BuildImageOptions,
  type AppImageOptions,
  type BootloaderImageOptions,
  type FirmwarePart,
  type FirmwareSetOptions,
} from './writer.js';
export * from './firmware-set.js';
export * from './flasher-args.js';
export * from './intel-hex.js';
export * from './memory-types.js';
export * from './loaded-image.js';
export * from './flash-params.js';
export * from './image-info.js';
export * from './merge-bin.js';
export * from './elf.js';
export * from './elf2image.js';
