/**
 * MAC conflicts: a board is its MAC, so one MAC answering on two live ports at once (a cloned module,
 * two simulators) cannot be told apart by the farm. Neither port is trusted: the board is held in state
 * `conflict` (nothing is bound to it, nothing is moved, no port is reset) until one port goes away or an
 * operator picks one (DevicesService.resolveConflict). A live port is an open, unrefused stay on an
 * agent that is not offline.
 */
import { recordFarmEvent } from '../events/farm-events.js';
import type { Prisma } from '../db/generated/prisma/client.js';
import { transitionDevice } from '../state/device-state.js';

type Tx = Prisma.TransactionClient;

/** A live port of a board: which agent, which port. */
export interface LivePort {
  agentId: string;
  agentName: string;
  portPath: string;
}

/** What settleConflict found: the board's live ports; `conflict` when there are two or more. */
export interface ConflictOutcome {
  deviceId: string;
  mac: string;
  ports: LivePort[];
  conflict: boolean;
}

/** "agent:port" as people read it. */
export function portLabel(p: Pick<LivePort, 'agentName' | 'portPath'>): string {
  return `${p.agentName}:${p.portPath}`;
}

/** The board's live ports (open stays on agents that are not offline), oldest stay first. */
export async function livePorts(tx: Tx, deviceId: string): Promise<LivePort[]> {
  const stays = await tx.attachment.findMany({
    where: { deviceId, detachedAt: null, agent: { status: { not: 'offline' } } },
    orderBy: { firstSeenAt: 'asc' },
    select: { agentId: true, portPath: true, agent: { select: { name: true } } },
  });
  return stays.map((s) => ({ agentId: s.agentId, agentName: s.agent.name, portPath: s.portPath }));
}

/**
 * Puts the board in `conflict` when it has two or more live ports (recording a device.conflict event
 * when it was not held for these ports already), or ends a conflict that no longer holds (idle with one
 * live port, offline with none; a device.conflict-resolved event). Quarantined boards keep their state.
 */
export async function settleConflict(tx: Tx, deviceId: string, now: Date): Promise<ConflictOutcome> {
  const device = await tx.device.findUniqueOrThrow({
    where: { id: deviceId },
    select: { mac: true, state: true, conflictReason: true, conflictSince: true },
  });
  const ports = await livePorts(tx, deviceId);
  const outcome = { deviceId, mac: device.mac, ports, conflict: ports.length >= 2 };
  const details = {
    ports: ports.map((p) => ({ agentId: p.agentId, agent: p.agentName, portPath: p.portPath })),
  };
  if (outcome.conflict) {
    const reason = `MAC ${device.mac} answers on ${ports.length} live ports: ${ports.map(portLabel).join(', ')}; unplug the clone or pick the real board (POST /devices/${device.mac}/resolve-conflict)`;
    if (device.state === 'conflict' && device.conflictReason === reason) return outcome;
    const moved = await transitionDevice(tx, { id: deviceId }, 'conflict', {
      from: ['idle', 'busy', 'offline', 'conflict'],
      data: { conflictReason: reason, conflictSince: device.conflictSince ?? now },
    });
    if (moved)
      await recordFarmEvent(tx, {
        type: 'device.conflict',
        severity: 'error',
        message: reason,
        deviceId,
        mac: device.mac,
        details,
      });
    return outcome;
  }
  if (device.state === 'conflict') {
    const moved = await transitionDevice(tx, { id: deviceId }, ports.length ? 'idle' : 'offline', {
      from: ['conflict'],
      data: { conflictReason: null, conflictSince: null },
    });
    if (moved)
      await recordFarmEvent(tx, {
        type: 'device.conflict-resolved',
        severity: 'info',
        message: `MAC ${device.mac} answers on ${ports.length ? `one port again (${portLabel(ports[0])})` : 'no live port'}: the conflict is over`,
        deviceId,
        mac: device.mac,
        details,
      });
  }
  return outcome;
}
