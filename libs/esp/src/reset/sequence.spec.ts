import { describe, expect, it } from '@jest/globals';
import { EspError } from '../errors.js';
import type { LineSignals, Transport } from '../transport.js';
import { formatResetSequence, parseResetSequence, runResetSequence, swapLines } from './sequence.js';
import {
  classicReset,
  customReset,
  defaultConnectStrategies,
  resetStrategyFromName,
  unixTightReset,
} from './strategies.js';

describe('parseResetSequence', () => {
  it('parses D/R/W/U steps with W in milliseconds', () => {
    expect(parseResetSequence('D0|R1|W100|D1|R0|W50|D0|U0,1')).toEqual([
      { op: 'D', value: false },
      { op: 'R', value: true },
      { op: 'W', ms: 100 },
      { op: 'D', value: true },
      { op: 'R', value: false },
      { op: 'W', ms: 50 },
      { op: 'D', value: false },
      { op: 'U', dtr: false, rts: true },
    ]);
  });

  it('accepts lower case, whitespace, empty steps and an explicit seconds suffix', () => {
    expect(parseResetSequence(' d1 || w0.1s ')).toEqual([
      { op: 'D', value: true },
      { op: 'W', ms: 100 },
    ]);
  });

  it.each([
    ['D0|R2|W100', 'R2'],
    ['D0|X1', 'X1'],
    ['U1', 'U1'],
    ['Wabc', 'Wabc'],
    ['D01', 'D01'],
  ])('rejects %s naming the bad token %s', (seq, token) => {
    let caught: unknown;
    try {
      parseResetSequence(seq);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EspError);
    expect((caught as EspError).code).toBe('INVALID_ARGUMENT');
    expect((caught as EspError).message).toContain(`"${token}"`);
  });

  it('formats back to the same notation', () => {
    expect(formatResetSequence(classicReset(50).steps)).toBe('D0|R1|W100|D1|R0|W50|D0');
    expect(formatResetSequence(unixTightReset(550).steps)).toBe('U0,0|U1,1|U0,1|W100|U1,0|W550|U0,0|D0');
  });

  it('swaps DTR and RTS for boards wired RTS→IO0, DTR→EN', () => {
    expect(formatResetSequence(swapLines(parseResetSequence('D0|R1|U1,0|W5')))).toBe('R0|D1|U0,1|W5');
  });
});

describe('strategies', () => {
  it('resolves stored names and raw sequences', () => {
    expect(resetStrategyFromName('classic-550')?.name).toBe('classic-550');
    expect(resetStrategyFromName('swapped-classic-50')?.name).toBe('swapped-classic-50');
    expect(resetStrategyFromName('D0|R1|W100|R0')?.name).toBe('custom:D0|R1|W100|R0');
    expect(resetStrategyFromName(customReset('D1|W5').name)?.steps).toEqual([
      { op: 'D', value: true },
      { op: 'W', ms: 5 },
    ]);
    expect(resetStrategyFromName('auto')).toBeUndefined();
    expect(() => resetStrategyFromName('bogus')).toThrow(/Unknown reset strategy/);
  });

  it('tries UnixTight only when signals are atomic, and the swapped wiring after each delay', () => {
    expect(defaultConnectStrategies(false).map((s) => s.name)).toEqual([
      'classic-50',
      'swapped-classic-50',
      'classic-550',
      'swapped-classic-550',
    ]);
    expect(defaultConnectStrategies(true).map((s) => s.name)).toEqual([
      'classic-50',
      'unix-tight-50',
      'swapped-classic-50',
      'classic-550',
      'unix-tight-550',
      'swapped-classic-550',
    ]);
  });
});

describe('runResetSequence', () => {
  it('rewrites DTR after every RTS change and sends U steps as one update', async () => {
    const calls: LineSignals[] = [];
    const t = { setSignals: (s: LineSignals) => (calls.push(s), Promise.resolve()) } as unknown as Transport;
    await runResetSequence(t, parseResetSequence('D0|R1|W1|U1,0|R0'));
    expect(calls).toEqual([
      { dtr: false },
      { rts: true },
      { dtr: false },
      { dtr: true, rts: false },
      { rts: false },
      { dtr: true },
    ]);
  });
});
