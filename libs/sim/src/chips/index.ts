import { esp32 } from './esp32.js';
import { esp32c3 } from './esp32c3.js';
import { esp32c6 } from './esp32c6.js';
import { esp32s2 } from './esp32s2.js';
import { esp32s3 } from './esp32s3.js';
import { esp8266 } from './esp8266.js';
import { type ChipDefinition, type ChipName } from './types.js';

/** Every simulated chip, by name. */
export const CHIPS: Readonly<Record<ChipName, ChipDefinition>> = {
  esp8266,
  esp32,
  esp32s2,
  esp32s3,
  esp32c3,
  esp32c6,
};

/** The names accepted by `new SimBoard({ chip })`. */
export const chipNames: readonly ChipName[] = Object.keys(CHIPS) as ChipName[];

/** True when `name` is a simulated chip. */
export function isChipName(name: string): name is ChipName {
  return Object.hasOwn(CHIPS, name);
}

/** The definition of a chip; throws RangeError for an unknown name. */
export function getChip(name: string): ChipDefinition {
  if (!isChipName(name)) throw new RangeError(`unknown chip "${name}"; known: ${chipNames.join(', ')}`);
  return CHIPS[name];
}
