import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { ConfigError } from '#runtime';
import { loadAgentConfig } from './agent-config.js';

describe('agent configuration', () => {
  it('has working defaults', () => {
    const c = loadAgentConfig({ FLASHFARM_DATA_DIR: '/tmp/ff-agent' });
    expect(c.ports).toEqual({ static: [], allow: [], deny: [], discovery: true, discoveryIntervalMs: 2_000 });
    expect(c.cacheDir).toBe(path.join('/tmp/ff-agent', 'firmware-cache'));
    expect(c.console).toBe(true);
    expect(c.runRetries).toBe(2);
  });

  it('parses static ports, globs and switches', () => {
    const c = loadAgentConfig({
      FLASHFARM_AGENT_PORTS: ' /dev/ttyUSB0, rfc2217://10.0.0.5:4000/ ,COM3',
      FLASHFARM_AGENT_ALLOW: '/dev/ttyUSB*,/dev/serial/by-id/*',
      FLASHFARM_AGENT_DENY: '/dev/ttyUSB9',
      FLASHFARM_AGENT_DISCOVERY: 'off',
      FLASHFARM_AGENT_CONSOLE: 'false',
      FLASHFARM_AGENT_CACHE_DIR: '/var/cache/ff',
    });
    expect(c.ports.static).toEqual(['/dev/ttyUSB0', 'rfc2217://10.0.0.5:4000', 'COM3']);
    expect(c.ports.allow).toEqual(['/dev/ttyUSB*', '/dev/serial/by-id/*']);
    expect(c.ports.deny).toEqual(['/dev/ttyUSB9']);
    expect(c.ports.discovery).toBe(false);
    expect(c.console).toBe(false);
    expect(c.cacheDir).toBe('/var/cache/ff');
  });

  it('names every bad variable', () => {
    let error: unknown;
    try {
      loadAgentConfig({
        FLASHFARM_AGENT_PORTS: 'ttyUSB0,rfc2217://host',
        FLASHFARM_AGENT_DISCOVERY: 'maybe',
        FLASHFARM_AGENT_SHUTDOWN_GRACE_MS: '-1',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
      'FLASHFARM_AGENT_DISCOVERY',
      'FLASHFARM_AGENT_PORTS',
      'FLASHFARM_AGENT_SHUTDOWN_GRACE_MS',
    ]);
  });

  it('reads lid fixture slots (line, inversion) and refuses lids it cannot read', () => {
    const c = loadAgentConfig({
      FLASHFARM_AGENT_FIXTURES:
        'rfc2217://10.0.0.5:4000=lid:cd,rfc2217://10.0.0.5:4001/=lid:DSR:inv,rfc2217://10.0.0.5:4002=manual',
    });
    expect(c.fixtures).toEqual(
      new Map([
        ['rfc2217://10.0.0.5:4000', 'lid'],
        ['rfc2217://10.0.0.5:4001', 'lid'],
        ['rfc2217://10.0.0.5:4002', 'manual'],
      ]),
    );
    expect(c.fixtureLids).toEqual(
      new Map([
        ['rfc2217://10.0.0.5:4000', { line: 'cd', inverted: false }],
        ['rfc2217://10.0.0.5:4001', { line: 'dsr', inverted: true }],
      ]),
    );
    const refused = (value: string): string => {
      try {
        loadAgentConfig({ FLASHFARM_AGENT_FIXTURES: value });
      } catch (e) {
        return (e as ConfigError).message;
      }
      throw new Error(`${value} was accepted`);
    };
    expect(refused('rfc2217://h:1=lid')).toMatch(/lid:cd\|lid:cts\|lid:dsr\[:inv\]/);
    expect(refused('rfc2217://h:1=lid:ri')).toMatch(/"rfc2217:\/\/h:1=lid:ri"/);
    expect(refused('rfc2217://h:1=lid:cd:inverted')).toMatch(/each entry must be/);
    expect(refused('/dev/ttyUSB0=lid:cts')).toMatch(
      /\/dev\/ttyUSB0: a lid trigger needs an rfc2217:\/\/ port/,
    );
  });
});
