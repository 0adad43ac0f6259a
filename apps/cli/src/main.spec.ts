import { describe, expect, it, jest } from '@jest/globals';
import { main } from './main.js';

describe('flashfarm command router', () => {
  it('lists the commands and exits 2 without a command', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main([])).toBe(2);
      const text = write.mock.calls.map((c) => String(c[0])).join('');
      for (const name of ['flash', 'erase', 'read', 'info', 'sim', 'write-flash', 'merge-bin', 'monitor'])
        expect(text).toContain(`  ${name}`);
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

  it("sends esptool's spellings to the esptool-compatible commands", async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--version'])).toBe(0);
      expect(await main(['write-flash', '--help'])).toBe(0);
      const text = write.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toMatch(/flashfarm v.* \(esptool v5\.3\.1 command line\)/);
      expect(text).toContain('Usage: flashfarm [global options] write-flash');
    } finally {
      write.mockRestore();
    }
  });
});
