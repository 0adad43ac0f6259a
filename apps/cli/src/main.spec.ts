import { describe, expect, it, jest } from '@jest/globals';
import { main } from './main.js';

describe('flashfarm command router', () => {
  it('lists the commands and exits 2 without a command', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main([])).toBe(2);
      const text = write.mock.calls.map((c) => String(c[0])).join('');
      for (const name of ['flash', 'erase', 'read', 'info', 'sim']) expect(text).toContain(`  ${name}`);
    } finally {
      write.mockRestore();
    }
  });

  it('names an unknown command and exits 2', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['flahs'])).toBe(2);
      expect(write.mock.calls.map((c) => String(c[0])).join('')).toContain('unknown command "flahs"');
    } finally {
      write.mockRestore();
    }
  });
});
