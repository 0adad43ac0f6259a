import { describe, expect, it } from '@jest/globals';
import { canonicalMac } from './mac.js';

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
