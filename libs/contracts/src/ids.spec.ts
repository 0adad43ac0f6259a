import { describe, expect, it } from '@jest/globals';
import { canonicalMac, isUuid, parseDeviceKey } from './ids.js';

describe('canonicalMac', () => {
  it('accepts the common spellings and returns lowercase colon form', () => {
    for (const input of [
      'AA-BB-CC-0D-EE-FF',
      'aa:bb:cc:0d:ee:ff',
      'AABBCC0DEEFF',
      'aabb.cc0d.eeff',
      ' aa:BB:cc:0d:ee:ff ',
    ])
      expect(canonicalMac(input)).toBe('aa:bb:cc:0d:ee:ff');
  });

  it('refuses anything else', () => {
    for (const input of [
      '',
      'aa:bb:cc:dd:ee',
      'aa:bb-cc:dd:ee:ff',
      'gg:bb:cc:dd:ee:ff',
      'aabbccddeeff00',
      '0190b4c3-0000-7000-8000-000000000000',
    ])
      expect(canonicalMac(input)).toBeUndefined();
  });
});

describe('device keys', () => {
  it('name a board by record id or by MAC in any spelling', () => {
    expect(parseDeviceKey(' 0190B4C3-0000-7000-8000-000000000000 ')).toEqual({
      id: '0190B4C3-0000-7000-8000-000000000000',
    });
    for (const mac of ['aabbccddeeff', 'AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff', 'aabb.ccdd.eeff'])
      expect(parseDeviceKey(mac)).toEqual({ mac: 'aa:bb:cc:dd:ee:ff' });
    expect(parseDeviceKey('probe')).toBeUndefined();
  });

  it('knows a UUID of any version and case, and nothing else', () => {
    expect(isUuid('0190f5c2-7a1e-7c3d-8e4f-123456789abc')).toBe(true);
    expect(isUuid('0190F5C2-7A1E-7C3D-8E4F-123456789ABC')).toBe(true);
    expect(isUuid('0190f5c2-7a1e-7c3d-8e4f-123456789ab')).toBe(false);
    expect(isUuid('x')).toBe(false);
  });
});
