/**
 * The per-unit regions of a campaign unit's run, made when the run is dispatched: the unit's NVS
 * partition from the campaign's recipe, its serial, its board's MAC and its CSV row. The same unit
 * gets the same bytes again when a dispatch is repeated (same serial, same row). The scheduler calls
 * it through UnitRegionsSource while building the run payload (CampaignsService registers it), since
 * the scheduler comes before campaigns in the run pipeline and may not import them.
 */
import type { PrismaClient } from '../db/generated/prisma/client.js';
import type { UnitRegionsOutcome, UnitRunFacts } from '../scheduler/unit-regions-source.js';
import { buildNvsImage, nvsPlacement, unitDataOf, unitRegion } from './unit-data.js';

/** Builds the per-unit regions of a run of a campaign unit's job. */
export async function unitRegionsFor(prisma: PrismaClient, run: UnitRunFacts): Promise<UnitRegionsOutcome> {
  const unit = await prisma.campaignUnit.findFirst({
    where: { jobId: run.jobId },
    select: {
      id: true,
      serial: true,
      csvRowId: true,
      campaign: { select: { unitData: true } },
    },
  });
  if (!unit) return undefined;
  const unitData = unitDataOf(unit.campaign.unitData);
  const recipe = unitData.nvs;
  if (!recipe) return undefined;
  const placement = nvsPlacement(
    (run.firmwareMetadata as { partitions?: unknown } | null)?.partitions,
    recipe.partition,
  );
  if ('problem' in placement) return { problem: placement.problem };
  const row = unit.csvRowId
    ? await prisma.campaignCsvRow.findUnique({ where: { id: unit.csvRowId }, select: { values: true } })
    : null;
  let image;
  try {
    image = buildNvsImage(recipe, placement, {
      serial: unit.serial,
      mac: run.mac.toLowerCase(),
      csv: (row?.values ?? undefined) as Record<string, string> | undefined,
    });
  } catch (error) {
    // NvsError and template messages name keys and namespaces, never values.
    return { problem: `the unit's NVS data could not be made: ${(error as Error).message}` };
  }
  await prisma.campaignUnit.update({ where: { id: unit.id }, data: { dataSha256: image.sha256 } });
  return { regions: [unitRegion(placement, image)] };
}
