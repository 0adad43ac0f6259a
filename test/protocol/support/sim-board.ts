/**
 * A simulated board on an in-process transport, opened at the ROM baud, for
 * the flasher's protocol tests; boards and transports of a test are released
 * after it.
 */
import { afterEach, expect } from '@jest/globals';
import { EspError } from '#esp';
import { SimTransport } from '#serial';
import { SimBoard, type SimBoardOptions } from '#sim';

/** Registers the clean-up and returns `setup`, which names boards `<prefix>-<n>` (ESP32, no UART delays by default). */
export function simBoards(prefix: string) {
  const boards: SimBoard[] = [];
  const transports: SimTransport[] = [];
  afterEach(async () => {
    for (const t of transports.splice(0)) await t.close();
    for (const b of boards.splice(0)) b.dispose();
  });
  return async function setup<T extends SimTransport = SimTransport>(
    options: Partial<SimBoardOptions> = {},
    /** A transport subclass that injects a fault on the host side. */
    makeTransport: (board: SimBoard) => T = (board) => new SimTransport(board) as T,
  ): Promise<{ board: SimBoard; transport: T }> {
    const board = new SimBoard({
      chip: 'esp32',
      name: `${prefix}-${boards.length}`,
      timeScale: 0,
      ...options,
    });
    boards.push(board);
    const transport = makeTransport(board);
    transports.push(transport);
    await transport.open(115200);
    return { board, transport };
  };
}

/** The EspError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function failure(p: Promise<unknown>): Promise<EspError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EspError);
    return err as EspError;
  }
  throw new Error('expected a failure');
}
