/**
 * The device state machine. Every write of `Device.state` goes through
 * transitionDevice (a test greps the api for any other).
 *
 *   idle ──bind──▶ busy ──run ends──▶ idle | offline (its agent or port is gone)
 *   idle | busy ──counted failures / operator──▶ quarantined ──release──▶ idle | offline
 *   idle ◀──seen again / agent back── offline ◀──agent silent / port gone── idle
 *   idle | busy | offline ──its MAC answers on a second live port──▶ conflict
 *   conflict ──a port went away / an operator picked one──▶ idle | offline
 */
import type { Prisma } from '../db/generated/prisma/client.js';
import type { DeviceState } from '../db/generated/prisma/enums.js';
import { sourcesOf, type TransitionTable } from './transition.js';

/** Allowed moves of a device. */
export const DEVICE_TRANSITIONS: TransitionTable<DeviceState> = {
  // Bound to a run; its agent or port went away; taken out of service by an operator.
  // ... or its MAC answers on a second live port (a cloned module): held in conflict.
  idle: ['busy', 'offline', 'quarantined', 'conflict'],
  // Its run ended (idle, or offline when its agent or port is gone meanwhile), or it failed too often; a
  // clone showing up mid-run holds it in conflict (the run goes on and ends; the board stays held).
  busy: ['idle', 'offline', 'quarantined', 'conflict'],
  // Seen again, or its agent came back; an operator may quarantine a board that is away.
  offline: ['idle', 'quarantined', 'conflict'],
  // Released (offline when nothing holds it); quarantining again updates the reason.
  quarantined: ['idle', 'offline', 'quarantined'],
  // One of the ports went away or an operator picked one (idle, or offline when that port is gone too);
  // an operator may quarantine it; re-entering updates the reason (the ports changed).
  conflict: ['idle', 'offline', 'quarantined', 'conflict'],
};

/** Fields a device transition may write besides the state. */
export type DeviceTransitionData = Omit<Prisma.DeviceUncheckedUpdateManyInput, 'state'>;

/**
 * Moves the devices matching `where` to `to`, when they are in a state that may move there (narrowed by
 * `from`); returns how many moved.
 */
export async function transitionDevice(
  db: Pick<Prisma.TransactionClient, 'device'>,
  where: Prisma.DeviceWhereInput,
  to: DeviceState,
  options: { from?: readonly DeviceState[]; data?: DeviceTransitionData } = {},
): Promise<number> {
  const from = sourcesOf('device', DEVICE_TRANSITIONS, to, options.from);
  const { count } = await db.device.updateMany({
    where: { AND: [where, { state: { in: from } }] },
    data: { ...options.data, state: to },
  });
  return count;
}
