/**
 * The per-unit traceability record of a production campaign, and its CSV
 * form: one row per unit, one column per field, every field always present.
 */

import type { CampaignUnitStatus, RegionRecord, UnitRecord } from '#contracts';

/** CSV columns, in order. Regions are flattened into one cell each for offsets, SHA-256 and MD5 (";"-separated, same order). */
export const UNIT_CSV_COLUMNS = [
  'campaign_id',
  'campaign_name',
  'unit_id',
  'mac',
  'chip',
  'chip_revision',
  'chip_description',
  'flash_id',
  'flash_size_bytes',
  'firmware_id',
  'firmware_name',
  'firmware_version',
  'firmware_sha256',
  'region_offsets',
  'region_sha256',
  'region_md5_expected',
  'region_md5_verified',
  'baud',
  'attempts',
  'retries',
  'agent',
  'port',
  'operator',
  'job_id',
  'run_id',
  'result',
  'error_code',
  'error_message',
  'queued_at',
  'started_at',
  'finished_at',
  'retest',
  'slot',
  'serial',
  'data_sha256',
  'csv_row',
  'operator_name',
  'boot_check',
  'boot_check_matched',
  'timings',
] as const;

/** Quotes a CSV cell when it needs it (RFC 4180), and defuses spreadsheet formulas. */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  // A cell starting with = + - @ is run as a formula by spreadsheets; a leading quote keeps it text.
  if (/^[=+\-@]/.test(text) && !/^-?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (without the line break) for a record. */
export function unitCsvRow(r: UnitRecord): string {
  const regions = (pick: (x: RegionRecord) => string | null) => r.regions.map((x) => pick(x) ?? '').join(';');
  const cells = [
    r.campaignId,
    r.campaignName,
    r.unitId,
    r.mac,
    r.chip,
    r.chipRevision,
    r.chipDescription,
    r.flashId,
    r.flashSizeBytes,
    r.firmwareId,
    r.firmwareName,
    r.firmwareVersion,
    r.firmwareSha256,
    regions((x) => `0x${x.offset.toString(16)}`),
    regions((x) => x.sha256),
    regions((x) => x.md5),
    regions((x) => x.verifiedMd5),
    r.baud,
    r.attempts,
    r.retries,
    r.agent,
    r.port,
    r.operator,
    r.jobId,
    r.runId,
    r.result,
    r.errorCode,
    r.errorMessage,
    r.queuedAt,
    r.startedAt,
    r.finishedAt,
    r.retest ? 'true' : 'false',
    r.slot,
    r.serial,
    r.dataSha256,
    r.csvRow,
    r.operatorName,
    r.bootCheck.result,
    r.bootCheck.matched,
    r.timings
      ? Object.entries(r.timings)
          .map(([k, v]) => `${k}=${v}`)
          .join(';')
      : null,
  ];
  return cells.map(csvCell).join(',');
}

/** The CSV header line. */
export function unitCsvHeader(): string {
  return UNIT_CSV_COLUMNS.join(',');
}

/** "v3.0" from the major × 100 + minor encoding. */
export function revisionName(revision: number | null | undefined): string | null {
  return revision === null || revision === undefined
    ? null
    : `v${Math.floor(revision / 100)}.${revision % 100}`;
}

/** Regions as a run stores them (JSON), normalised. */
export function regionRecords(raw: unknown): RegionRecord[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null)
    .map((r) => ({
      offset: Number(r.offset ?? 0),
      size: Number(r.size ?? 0),
      sha256: typeof r.sha256 === 'string' ? r.sha256 : null,
      md5: typeof r.md5 === 'string' ? r.md5 : null,
      verifiedMd5: typeof r.verifiedMd5 === 'string' ? r.verifiedMd5 : null,
    }));
}

/** The JEDEC id as stored (wire order: manufacturer, memory type, capacity), as datasheets print it. */
export function jedecName(id: number | null | undefined): string | null {
  return id === null || id === undefined ? null : `0x${id.toString(16).padStart(6, '0')}`;
}

/** The last run of a unit's ended job, as the record reads it. */
export interface FinalRun {
  id: string;
  agentName: string | null;
  portPath: string | null;
  baud: number | null;
  retries: number;
  regions: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Stage timings in ms, as the agent reported them. */
  timings?: unknown;
  /** The boot check as the agent reported it ({ passed, matched?, elapsedMs }), null when none ran. */
  bootCheck?: unknown;
}

/** The record fields of per-unit data and traceability, empty (records stored before they existed). */
export function emptyUnitDataFields(): Pick<
  UnitRecord,
  'dataSha256' | 'csvRow' | 'operatorName' | 'bootCheck' | 'timings'
> {
  return {
    dataSha256: null,
    csvRow: null,
    operatorName: null,
    bootCheck: { result: 'not_run', matched: null },
    timings: null,
  };
}

/** The boot-check outcome of an ended unit: the agent's report, else what the run's end says. */
export function bootCheckOf(
  asked: boolean,
  run: FinalRun | undefined,
  succeeded: boolean,
): UnitRecord['bootCheck'] {
  const reported = run?.bootCheck as { passed?: unknown; matched?: unknown } | null | undefined;
  if (reported && typeof reported.passed === 'boolean')
    return {
      result: reported.passed ? 'passed' : 'failed',
      matched: typeof reported.matched === 'string' ? reported.matched : null,
    };
  if (!asked || !run) return { result: 'not_run', matched: null };
  if (succeeded) return { result: 'passed', matched: null };
  return { result: run.errorCode === 'BOOT_CHECK_FAILED' ? 'failed' : 'not_run', matched: null };
}

function timingsOf(raw: unknown): Record<string, number> | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const entries = Object.entries(raw as Record<string, unknown>).filter(
    (e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]),
  );
  return entries.length ? Object.fromEntries(entries) : null;
}

/** Everything a unit's record is made of. */
export interface UnitRecordFacts {
  campaign: { id: string; name: string; createdBy: string; options?: unknown };
  unit: {
    id: string;
    mac: string | null;
    retest: boolean;
    portPath: string | null;
    serial: string | null;
    attempts: number;
    jobId: string | null;
    runId: string | null;
    status: CampaignUnitStatus;
    errorCode: string | null;
    errorMessage: string | null;
    createdAt: Date;
    startedAt: Date | null;
    finishedAt: Date | null;
    operatorName?: string | null;
    csvRow?: number | null;
    dataSha256?: string | null;
  };
  firmware: { id: string; name: string; version: string | null; sha256: string; chip: string };
  device:
    | {
        chip: string;
        chipRevision: number | null;
        chipDescription: string | null;
        flashJedecId: number | null;
        flashSizeBytes: number | null;
      }
    | null
    | undefined;
  /** Once the unit's job ended: its status and last run (the record is then stored for good). */
  ended?: { jobStatus: string; run: FinalRun | undefined; at: Date };
}

/** The one way a unit record is built: facts known so far for an open unit, the run's for an ended one. */
export function buildUnitRecord(f: UnitRecordFacts): UnitRecord {
  const { campaign, unit, firmware, device, ended } = f;
  const run = ended?.run;
  const succeeded = ended?.jobStatus === 'succeeded';
  return {
    campaignId: campaign.id,
    campaignName: campaign.name,
    unitId: unit.id,
    mac: unit.mac,
    retest: unit.retest,
    serial: unit.serial,
    slot: unit.portPath,
    chip: device?.chip ?? firmware.chip,
    chipRevision: revisionName(device?.chipRevision),
    chipDescription: device?.chipDescription ?? null,
    flashId: jedecName(device?.flashJedecId),
    flashSizeBytes: device?.flashSizeBytes ?? null,
    firmwareId: firmware.id,
    firmwareName: firmware.name,
    firmwareVersion: firmware.version,
    firmwareSha256: firmware.sha256,
    regions: regionRecords(run?.regions),
    baud: run?.baud ?? null,
    attempts: unit.attempts,
    retries: run?.retries ?? 0,
    agent: run?.agentName ?? null,
    port: run?.portPath ?? null,
    operator: campaign.createdBy,
    jobId: unit.jobId,
    runId: ended ? (run?.id ?? null) : unit.runId,
    result: ended ? (succeeded ? 'succeeded' : 'failed') : unit.status,
    errorCode: ended
      ? (run?.errorCode ?? (succeeded ? null : ended.jobStatus.toUpperCase()))
      : unit.errorCode,
    errorMessage: ended ? (run?.errorMessage ?? null) : unit.errorMessage,
    queuedAt: unit.createdAt.toISOString(),
    startedAt: ((ended ? run?.startedAt : undefined) ?? unit.startedAt)?.toISOString() ?? null,
    finishedAt: ended
      ? (run?.finishedAt ?? ended.at).toISOString()
      : (unit.finishedAt?.toISOString() ?? null),
    dataSha256: unit.dataSha256 ?? null,
    csvRow: unit.csvRow ?? null,
    operatorName: unit.operatorName ?? null,
    bootCheck: ended
      ? bootCheckOf(bootCheckAsked(campaign.options), run, succeeded)
      : { result: 'not_run', matched: null },
    timings: timingsOf(run?.timings),
  };
}

function bootCheckAsked(options: unknown): boolean {
  return (
    typeof options === 'object' &&
    options !== null &&
    'bootCheck' in options &&
    Boolean((options as { bootCheck?: unknown }).bootCheck)
  );
}
