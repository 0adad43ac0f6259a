import { describe, expect, it } from '@jest/globals';
import { nvsRecipeOf, readNvsPartition } from '#esp';
import type { NvsUnitRecipe } from '#contracts';
import { ApiError } from '../common/api-error.js';
import { buildNvsImage, checkUnitData, csvColumnsOf, nvsPlacement, parseTemplate } from './unit-data.js';

const PARTITIONS = [
  { label: 'nvs', typeName: 'data', subtypeName: 'nvs', offset: 0x9000, size: 0x6000 },
  { label: 'factory', typeName: 'app', subtypeName: 'factory', offset: 0x10000, size: 0x100000 },
];
const FIRMWARE = {
  id: 'fw',
  metadata: { partitions: PARTITIONS },
  parts: [{ offset: 0x10000, size: 0x1000, fileName: 'app.bin' }],
};
const RECIPE: NvsUnitRecipe = {
  namespaces: [
    {
      name: 'factory',
      entries: [
        { key: 'serial', type: 'string', value: 'SN:{serial}' },
        { key: 'cal', type: 'i16', value: '{csv:cal}' },
        { key: 'id', type: 'blob', value: '{mac_hex}', encoding: 'hex' },
        { key: 'braces', type: 'string', value: '{{x}}' },
      ],
    },
  ],
};

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('per-unit data recipe', () => {
  it('parses templates and lists the CSV columns they use', () => {
    expect(parseTemplate('a{serial}-{csv: psk }}}')).toEqual([
      { text: 'a' },
      { field: 'serial' },
      { text: '-' },
      { csv: 'psk' },
      { text: '}' },
    ]);
    expect(() => parseTemplate('{serial')).toThrow(/without its "}"/);
    expect(() => parseTemplate('{secret_thing}')).toThrow(/use \{serial\}/);
    expect(csvColumnsOf({ nvs: RECIPE })).toEqual(['cal']);
  });

  it('fills in a unit and makes a partition that decodes to its values', () => {
    const image = buildNvsImage(
      RECIPE,
      { label: 'nvs', offset: 0x9000, size: 0x6000 },
      { serial: 'FF-1', mac: 'aa:bb:cc:dd:ee:01', csv: { cal: '-7' } },
    );
    expect(image.data.length).toBe(0x6000);
    expect(nvsRecipeOf(readNvsPartition(image.data).namespaces)).toEqual({
      factory: {
        serial: { type: 'string', value: 'SN:FF-1' },
        cal: { type: 'i16', value: -7 },
        id: { type: 'blob', value: new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01]) },
        braces: { type: 'string', value: '{x}' },
      },
    });
  });

  it('finds the nvs partition, or says what is missing', () => {
    expect(nvsPlacement(PARTITIONS, undefined)).toEqual({ label: 'nvs', offset: 0x9000, size: 0x6000 });
    expect(nvsPlacement(null, undefined)).toEqual({ problem: expect.stringMatching(/no partition table/) });
    expect(nvsPlacement(PARTITIONS, 'nvs2')).toEqual({ problem: expect.stringMatching(/labelled "nvs2"/) });
  });

  it('refuses at create time with UNIT_DATA_INVALID naming the field', () => {
    const noSerial = refusal(() => checkUnitData({ nvs: RECIPE }, FIRMWARE));
    expect(noSerial.code).toBe('UNIT_DATA_INVALID');
    expect(noSerial.details?.[0].field).toBe('unitData.nvs.namespaces[0].entries[0].value');
    const covered = refusal(() =>
      checkUnitData(
        { serialPattern: 'FF-{seq:04}', nvs: RECIPE },
        { ...FIRMWARE, parts: [{ offset: 0, size: 0x20000, fileName: 'merged.bin' }] },
      ),
    );
    expect(covered.message).toMatch(/merged\.bin .* covers the nvs partition/);
    expect(checkUnitData({ serialPattern: 'FF-{seq:04}', nvs: RECIPE }, FIRMWARE)).toEqual({
      label: 'nvs',
      offset: 0x9000,
      size: 0x6000,
    });
  });
});
