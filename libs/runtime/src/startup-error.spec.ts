import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { z } from 'zod';
import { parseEnv } from './config-error.js';
import { RedisUnavailableError } from './local-redis.js';
import { assertCanListen, listenFailure, StartupError, startupFailureText } from './startup-error.js';

describe('start-up failures', () => {
  it('prints one line per bad variable, and no stack for problems an operator fixes', () => {
    let error: unknown;
    try {
      parseEnv(
        z.object({ A_PORT: z.coerce.number({ message: 'must be a number' }), B: z.string() }),
        { A_PORT: 'x' },
        'api',
      );
    } catch (e) {
      error = e;
    }
    expect(startupFailureText('api', error)).toBe(
      'flashfarm api failed to start: A_PORT: must be a number (see "Configuration" in README.md)\n' +
        'flashfarm api failed to start: B: Invalid input: expected string, received undefined (see "Configuration" in README.md)\n',
    );
    expect(
      startupFailureText('agent', new RedisUnavailableError('Cannot reach Redis at REDIS_URL:\n refused')),
    ).toBe('flashfarm agent failed to start: Cannot reach Redis at REDIS_URL: refused\n');
    expect(startupFailureText('agent', new StartupError('X', 'fix it'))).toBe(
      'flashfarm agent failed to start: X: fix it\n',
    );
  });

  it('keeps the stack of an unexpected error: that is a defect, not a setting', () => {
    const text = startupFailureText('api', new TypeError('x is undefined'));
    expect(text.split('\n')[0]).toBe('flashfarm api failed to start: x is undefined');
    expect(text).toMatch(/^\s+at /m);
  });

  it('names FLASHFARM_PORT for a port in use, FLASHFARM_HOST for an address not on this machine', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const taken = await assertCanListen('127.0.0.1', port).catch((e: unknown) => e);
      expect(taken).toBeInstanceOf(StartupError);
      expect((taken as StartupError).variable).toBe('FLASHFARM_PORT');
    } finally {
      holder.close();
    }
    await expect(assertCanListen('127.0.0.1', 0)).resolves.toBeUndefined();
    const notHere = listenFailure(Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL' }), {
      host: '192.0.2.1',
      port: 8080,
    });
    expect((notHere as StartupError).variable).toBe('FLASHFARM_HOST');
    const other = new Error('other');
    expect(listenFailure(other, { host: 'h', port: 1 })).toBe(other);
  });
});
