// A synthetic firmware set from the image writer must boot on every simulated chip, as a real build would.
import { describe, expect, it } from '@jest/globals';
import { buildFirmwareSet, validateFirmwareSet } from '#esp';
import { chipNames, SimBoard } from '#sim';

describe('image writer output on simulated boards', () => {
  it.each([...chipNames])('%s boots the three-part set and prints the app banner', async (chip) => {
    const parts = buildFirmwareSet({
      chip: chip,
      projectName: 'sim-boot',
      version: '4.5.6',
      idfVersion: 'v5.3.1',
    });
    const check = validateFirmwareSet(parts, { chip });
    expect(check.ok).toBe(true);
    const board = new SimBoard({ chip, timeScale: 0, initialFlash: parts });
    try {
      await board.waitForConsole(/Calling app_main/, 2000);
      if (chip === 'esp8266') {
        // The simulated ESP8266 ROM runs the image at 0 and logs each segment it loads; no IDF banner.
        expect(board.console).toContain('load 0x3ffe8000, len 2048');
        expect(board.console).toContain('chksum 0xok');
      } else {
        expect(board.console).toContain('sim-boot');
        expect(board.console).toContain('4.5.6');
      }
    } finally {
      board.dispose();
    }
  });
});
