/**
 * What the suite checks after each try, from the outside only (the api's
 * answers and the simulated boards' own view):
 * - every slot of the try's jobs ends (succeeded, failed, cancelled) before the bound, else it is stuck;
 * - a slot that succeeded has its firmware in its board's flash, read back by
 *   the simulator (SHA-256 per part against the api's stored parts), else it is a false success;
 * - a board holding a succeeded slot was not flashed to completion more often
 *   than its attempts account for (the simulator's verifiedBoots), else duplicates;
 * - every attempt's stored log has contiguous seq numbers up to the run's
 *   lastLogSeq, and a succeeded attempt's log holds a "verified" line per part
 *   and ends with "succeeded:", else lines were lost.
 */
import type { JobView, RunLogView, RunView } from '#contracts';
import type { FaultFarm, FlashCounters, StoredPart } from './farm.js';
import { holdFor } from '../../support/stimulus.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
/** Job statuses after which nothing more happens to the job. */
export const TERMINAL_JOB: ReadonlySet<string> = TERMINAL;

/** Figures of one try (or, summed, of a scenario). */
export interface Tally {
  slots: number;
  succeededVerified: number;
  failedCleanly: number;
  stuck: number;
  falseSuccesses: number;
  duplicates: number;
  lostLines: number;
}

/** A try's figures and the evidence behind every non-zero defect count. */
export interface TryResult extends Tally {
  /** Failure codes of the slots that failed (code → count). */
  failureCodes: Record<string, number>;
  /** Lines saying what went wrong, for the report. */
  evidence: string[];
  /** Log lines stored out of time order (seq order against timestamps). */
  disorderedLines: number;
  /** Attempts whose log holds more than one execution of the run. */
  mixedLogs: number;
  /** Completed flashes the api reports as failed attempts on boards with no success. */
  unreportedFlashes: number;
}

/** An empty tally. */
export function emptyTally(): Tally {
  return {
    slots: 0,
    succeededVerified: 0,
    failedCleanly: 0,
    stuck: 0,
    falseSuccesses: 0,
    duplicates: 0,
    lostLines: 0,
  };
}

/** Waits until every job is terminal or the deadline passes; returns the last views seen. */
export async function waitTerminal(farm: FaultFarm, jobIds: string[], deadline: number): Promise<JobView[]> {
  const last = new Map<string, JobView>();
  for (;;) {
    for (const id of jobIds) {
      if (last.has(id) && TERMINAL.has(last.get(id)!.status)) continue;
      const job = await farm.job(id);
      if (job) last.set(id, job);
    }
    const done = jobIds.every((id) => last.has(id) && TERMINAL.has(last.get(id)!.status));
    if (done || Date.now() > deadline) return jobIds.flatMap((id) => (last.has(id) ? [last.get(id)!] : []));
    await holdFor(500);
  }
}

/** What the try put on the farm. */
export interface TryWork {
  jobIds: string[];
  parts: StoredPart[];
  countersBefore: Map<string, FlashCounters>;
}

/** Evaluates a try once its jobs are terminal (or the bound passed). */
export async function evaluateTry(farm: FaultFarm, work: TryWork, jobs: JobView[]): Promise<TryResult> {
  const result: TryResult = {
    ...emptyTally(),
    failureCodes: {},
    evidence: [],
    disorderedLines: 0,
    mixedLogs: 0,
    unreportedFlashes: 0,
  };
  const countersAfter = await farm.flashCounters();
  /** Per board name: completed flashes the api's outcomes account for, and whether a slot succeeded there. */
  const accounted = new Map<string, { expected: number; succeeded: boolean }>();
  const account = (board: string | undefined, expected: number, succeeded: boolean) => {
    if (!board) return;
    const a = accounted.get(board) ?? { expected: 0, succeeded: false };
    a.expected += expected;
    a.succeeded ||= succeeded;
    accounted.set(board, a);
  };
  for (const id of work.jobIds) {
    const job = jobs.find((j) => j.id === id);
    if (!job) {
      result.stuck++;
      result.slots++;
      result.evidence.push(`job ${id}: never answered`);
      continue;
    }
    for (const slot of job.slots) {
      result.slots++;
      const latest = slot.latest;
      if (!TERMINAL.has(latest.status)) {
        result.stuck++;
        result.evidence.push(
          `stuck: job ${job.id} slot ${slot.slot} run ${latest.id} still ${latest.status} (stage ${latest.stage}, ${latest.progress} %)`,
        );
      } else if (latest.status === 'succeeded') {
        const board = farm.boardOfDevice(latest.deviceId);
        const mismatched = board ? await mismatchedParts(farm, board, work.parts) : ['(no board)'];
        if (mismatched.length === 0) result.succeededVerified++;
        else {
          result.falseSuccesses++;
          result.evidence.push(
            `false success: run ${latest.id} on ${board ?? latest.deviceId} succeeded but the flash differs at ${mismatched.join(', ')}`,
          );
        }
      } else if (latest.errorCode) {
        result.failedCleanly++;
        result.failureCodes[latest.errorCode] = (result.failureCodes[latest.errorCode] ?? 0) + 1;
      } else {
        result.evidence.push(`run ${latest.id} ended ${latest.status} without an error code`);
      }
      for (const attempt of slot.history) {
        const board = farm.boardOfDevice(attempt.deviceId);
        const completed =
          attempt.status === 'succeeded' ||
          (await completedButFailed(farm, attempt.runId, attempt.errorCode));
        account(board, completed ? 1 : 0, attempt.status === 'succeeded');
        await checkLog(farm, attempt.runId, attempt.status === 'succeeded', work.parts.length, result);
      }
    }
  }
  for (const [board, a] of accounted) {
    const before = work.countersBefore.get(board)?.verifiedBoots ?? 0;
    const after = countersAfter.get(board)?.verifiedBoots ?? 0;
    const extra = after - before - a.expected;
    if (extra <= 0) continue;
    if (a.succeeded) {
      result.duplicates += extra;
      result.evidence.push(
        `duplicate: ${board} was flashed to completion ${after - before} times for ${a.expected} accounted attempt(s)`,
      );
    } else result.unreportedFlashes += extra;
  }
  return result;
}

/** Parts whose flash contents differ from the stored part, read back through the simulator. */
async function mismatchedParts(farm: FaultFarm, board: string, parts: StoredPart[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const p of parts)
    if ((await farm.flashSha256(board, p.offset, p.size)) !== p.sha256)
      wrong.push(`${p.role}@0x${p.offset.toString(16)}`);
  return wrong;
}

/** A failed attempt whose flash was complete (written and verified) before it failed: boot check failures. */
async function completedButFailed(
  farm: FaultFarm,
  runId: string,
  errorCode: string | null,
): Promise<boolean> {
  if (errorCode === 'BOOT_CHECK_FAILED') return true;
  if (errorCode === null) return false;
  const run = await farm.request<RunView>('GET', `/runs/${runId}`);
  const regions = run.body?.regions ?? [];
  return regions.length > 0 && regions.every((r) => r.verifiedMd5 !== undefined);
}

/** Checks one attempt's stored log; adds lost, disordered and mixed lines to the result. */
async function checkLog(
  farm: FaultFarm,
  runId: string,
  succeeded: boolean,
  partCount: number,
  result: TryResult,
): Promise<void> {
  const [log, run] = await Promise.all([
    farm.request<RunLogView>('GET', `/runs/${runId}/log?format=json`),
    farm.request<RunView>('GET', `/runs/${runId}`),
  ]);
  if (log.status !== 200 || !log.body || !run.body) {
    result.evidence.push(`log of ${runId}: GET answered ${log.status}/${run.status}`);
    return;
  }
  const lines = log.body.lines;
  const seqs = lines.map((l) => l.seq);
  const top = Math.max(0, run.body.lastLogSeq, log.body.lastLogSeq, ...seqs);
  const gaps = top - new Set(seqs).size;
  const problems: string[] = [];
  if (gaps > 0) problems.push(`${gaps} seq number(s) missing of 1..${top}`);
  let lost = Math.max(0, gaps);
  if (succeeded) {
    const verified = lines.filter((l) => /verified \(MD5/.test(l.text)).length;
    if (verified < partCount) {
      lost += partCount - verified;
      problems.push(`${verified} of ${partCount} "verified" lines`);
    }
    const last = lines[lines.length - 1];
    if (!last || !/^succeeded:/.test(last.text)) {
      lost += 1;
      problems.push(
        `ends with ${JSON.stringify(last?.text.slice(0, 80) ?? '(nothing)')}, not "succeeded: …"`,
      );
    }
  }
  for (let i = 1; i < lines.length; i++) if (lines[i].ts < lines[i - 1].ts) result.disorderedLines++;
  if (lines.filter((l) => /^run \S+ \(attempt \d+\) on /.test(l.text)).length > 1) {
    result.mixedLogs++;
    problems.push('holds more than one execution of the run');
  }
  result.lostLines += lost;
  if (problems.length)
    result.evidence.push(`log of run ${runId} (${run.body.status}): ${problems.join('; ')}`);
}
