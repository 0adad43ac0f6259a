/**
 * The campaign and campaign-unit state machines. Every write of
 * `Campaign.status` and `CampaignUnit.status` goes through transitionCampaign
 * and transitionUnit (a test greps the api for any other); rows are created
 * `running` and `pending` (the column defaults).
 *
 *   campaign: running ⇄ paused; running | paused ──stop──▶ stopped;
 *             running ──no unit left (pool)──▶ completed ──retry failed units──▶ running
 *   unit:     pending ──job started──▶ flashing ──job ended──▶ succeeded | failed ──retry──▶ pending
 *             pending ──cannot start / campaign stopped──▶ failed
 */
import type { Prisma } from '../db/generated/prisma/client.js';
import type { CampaignStatus, CampaignUnitStatus } from '../db/generated/prisma/enums.js';
import { sourcesOf, type TransitionTable } from './transition.js';

/** Allowed moves of a campaign. A stopped campaign stays stopped. */
export const CAMPAIGN_TRANSITIONS: TransitionTable<CampaignStatus> = {
  running: ['paused', 'stopped', 'completed'],
  paused: ['running', 'stopped'],
  completed: ['running'],
  stopped: [],
};

/** Allowed moves of a campaign unit. A succeeded unit is done: its board is never flashed twice. */
export const UNIT_TRANSITIONS: TransitionTable<CampaignUnitStatus> = {
  pending: ['flashing', 'failed'],
  flashing: ['succeeded', 'failed'],
  failed: ['pending'],
  succeeded: [],
};

/** Moves the campaigns matching `where` to `to` when allowed (narrowed by `from`); returns how many moved. */
export async function transitionCampaign(
  db: Pick<Prisma.TransactionClient, 'campaign'>,
  where: Prisma.CampaignWhereInput,
  to: CampaignStatus,
  options: {
    from?: readonly CampaignStatus[];
    data?: Omit<Prisma.CampaignUncheckedUpdateManyInput, 'status'>;
  } = {},
): Promise<number> {
  const from = sourcesOf('campaign', CAMPAIGN_TRANSITIONS, to, options.from);
  const { count } = await db.campaign.updateMany({
    where: { AND: [where, { status: { in: from } }] },
    data: { ...options.data, status: to },
  });
  return count;
}

/** Moves the units matching `where` to `to` when allowed (narrowed by `from`); returns how many moved. */
export async function transitionUnit(
  db: Pick<Prisma.TransactionClient, 'campaignUnit'>,
  where: Prisma.CampaignUnitWhereInput,
  to: CampaignUnitStatus,
  options: {
    from?: readonly CampaignUnitStatus[];
    data?: Omit<Prisma.CampaignUnitUncheckedUpdateManyInput, 'status'>;
  } = {},
): Promise<number> {
  const from = sourcesOf('campaign unit', UNIT_TRANSITIONS, to, options.from);
  const { count } = await db.campaignUnit.updateMany({
    where: { AND: [where, { status: { in: from } }] },
    data: { ...options.data, status: to },
  });
  return count;
}
