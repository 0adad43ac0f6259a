/**
 * The modem-status inputs a host reads from a serial bridge (CTS, DSR, RI, CD), as RFC 2217's
 * NOTIFY-MODEMSTATE carries them, and the capability of a transport that reports them.
 */
import type { Transport } from '#esp';

/** The modem-status inputs; true = asserted. */
export interface ModemLines {
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  cd: boolean;
}

/** The inputs a fixture's "lid closed" switch can be wired to. */
export type ModemInput = 'cts' | 'dsr' | 'cd';

/**
 * NOTIFY-MODEMSTATE bits (RFC 2217): line states in the high nibble, changes since the last
 * notification in the low one (RI's is its trailing edge).
 */
export const ModemStateBit = {
  DELTA_CTS: 0x01,
  DELTA_DSR: 0x02,
  RI_TRAILING_EDGE: 0x04,
  DELTA_CD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  CD: 0x80,
} as const;

/** The state and delta bits of one input, for SET-MODEMSTATE-MASK (notify this line only). */
export const MODEM_INPUT_MASK: Readonly<Record<ModemInput, number>> = {
  cts: ModemStateBit.CTS | ModemStateBit.DELTA_CTS,
  dsr: ModemStateBit.DSR | ModemStateBit.DELTA_DSR,
  cd: ModemStateBit.CD | ModemStateBit.DELTA_CD,
};

/** The line states of a NOTIFY-MODEMSTATE value (the delta bits are not needed: the states are compared). */
export function decodeModemState(value: number): ModemLines {
  return {
    cts: (value & ModemStateBit.CTS) !== 0,
    dsr: (value & ModemStateBit.DSR) !== 0,
    ri: (value & ModemStateBit.RI) !== 0,
    cd: (value & ModemStateBit.CD) !== 0,
  };
}

/** A transport that reports its modem inputs (the RFC 2217 client). */
export interface ModemLineSource {
  /** The inputs as last reported; undefined until the port said. */
  readonly modemLines: ModemLines | undefined;
  /** Called with the inputs each time the port reports them (and the NOTIFY-MODEMSTATE byte over RFC 2217, else 0). */
  onModemLines(listener: (lines: ModemLines, raw: number) => void): () => void;
  /** Asks the port for the inputs now; resolves with the next report, rejects on timeout or a closed port. */
  requestModemLines(timeoutMs: number): Promise<ModemLines>;
  /** Asks the port to report only these NOTIFY-MODEMSTATE bits (RFC 2217 SET-MODEMSTATE-MASK); resolves with the applied mask. */
  setModemStateMask?(mask: number): Promise<number>;
}

/** True when the transport reports modem inputs. */
export function hasModemLines(transport: Transport): transport is Transport & ModemLineSource {
  return typeof (transport as Partial<ModemLineSource>).onModemLines === 'function';
}
