/**
 * The database's enums and the contract's status and state lists are one
 * vocabulary: the api stores what it answers with. A value added on one side
 * only would be stored but undocumented, or documented but refused by the
 * database; this test fails on either.
 */
import { describe, expect, it } from '@jest/globals';
import * as contract from '#contracts';
import * as database from './generated/prisma/enums.js';

const PAIRS: Array<[string, Record<string, string>, readonly string[]]> = [
  ['AgentStatus', database.AgentStatus, contract.AGENT_STATUSES],
  ['DeviceState', database.DeviceState, contract.DEVICE_STATES],
  ['FirmwareKind', database.FirmwareKind, contract.FIRMWARE_KINDS],
  ['PartRole', database.PartRole, contract.PART_ROLES],
  ['TargetKind', database.TargetKind, contract.TARGET_KINDS],
  ['JobStatus', database.JobStatus, contract.JOB_STATUSES],
  ['RunStatus', database.RunStatus, contract.RUN_STATUSES],
  ['LogLevel', database.LogLevel, contract.LOG_LEVELS],
  ['TokenRole', database.TokenRole, contract.TOKEN_ROLES],
  ['CampaignMode', database.CampaignMode, contract.CAMPAIGN_MODES],
  ['CampaignStatus', database.CampaignStatus, contract.CAMPAIGN_STATUSES],
  ['CampaignUnitStatus', database.CampaignUnitStatus, contract.CAMPAIGN_UNIT_STATUSES],
  ['WebhookDeliveryStatus', database.WebhookDeliveryStatus, contract.WEBHOOK_DELIVERY_STATUSES],
];

describe('database enums', () => {
  it.each(PAIRS)('%s holds exactly the values of the contract', (_name, stored, answered) => {
    expect(Object.values(stored).sort()).toEqual([...answered].sort());
  });

  it('covers every enum of the schema', () => {
    const enums = Object.entries(database).filter(([, value]) => typeof value === 'object');
    expect(enums.map(([name]) => name).sort()).toEqual(PAIRS.map(([name]) => name).sort());
  });
});
