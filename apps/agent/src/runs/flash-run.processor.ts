/**
 * The BullMQ side of runs: a thin, idempotent processor per job name. It
 * re-reads what it needs, returns early for a run already done or cancelled,
 * claims the run from the api (a refused run is acknowledged without flashing
 * or reporting), delegates the flash to FlashRunService and reports the result
 * on the events stream.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { FLASH_RUN_JOB, type FlashRunPayload, type RunResultPayload } from '#contracts';
import type { AgentEventsPublisher } from '../events/agent-events.publisher.js';
import { RunAbort, type FlashRunService } from './flash-run.service.js';
import type { RunClaim } from './run-claim.js';
import { RunReporter } from './run-reporter.js';

/** A run in flight on this agent. */
export interface RunningRun {
  runId: string;
  portPath: string;
  controller: AbortController;
}

/** What the processor needs from the agent. */
export interface RunProcessorDeps {
  agentId: string;
  service: FlashRunService;
  publisher: AgentEventsPublisher;
  running: Map<string, RunningRun>;
  /** Runs known to be cancelled (control channel or heartbeat answer). */
  isCancelled(runId: string): boolean;
  /** Claims the run from the api before it touches the board (see run-claim.ts). */
  claim(payload: FlashRunPayload): Promise<RunClaim>;
  /** The agent's own log. */
  log(level: 'info' | 'warn', text: string): void;
  logLine?(runId: string, level: string, text: string): void;
}

/** What the BullMQ job returns (the full result travels on the events stream). */
export interface RunJobReturn {
  /** `refused`: the api refused the claim; the run was neither flashed nor reported. */
  status: RunResultPayload['status'] | 'refused';
  errorCode?: string;
}

type Processor = (job: Job) => Promise<RunJobReturn>;

/** One processor per job name; the agent refuses to start unless every name has exactly one. */
export function createRunProcessors(deps: RunProcessorDeps): Record<typeof FLASH_RUN_JOB, Processor> {
  return { [FLASH_RUN_JOB]: (job) => processFlashRun(job.data as FlashRunPayload, deps) };
}

/** Dispatches a job to its processor; an unknown name can never succeed. */
export function dispatchJob(processors: Record<string, Processor>, job: Job): Promise<RunJobReturn> {
  const processor = processors[job.name];
  if (!processor) throw new UnrecoverableError(`no processor for job "${job.name}"`);
  return processor(job);
}

async function processFlashRun(payload: FlashRunPayload, deps: RunProcessorDeps): Promise<RunJobReturn> {
  const reporter = new RunReporter(deps.publisher, payload.runId, deps.agentId);
  if (deps.logLine) reporter.onLine = (l) => deps.logLine?.(payload.runId, l.level, l.text);
  const cancelledResult: RunResultPayload = {
    status: 'cancelled',
    errorCode: 'CANCELLED',
    errorMessage: 'the run was cancelled before it started',
    retries: 0,
    bytesWritten: 0,
    bytesSkipped: 0,
    regions: [],
    timings: {},
  };
  if (deps.running.has(payload.runId)) {
    // A redelivery while the first delivery still runs here: that one reports.
    return { status: 'failed', errorCode: 'INTERNAL' };
  }
  const reported = await deps.publisher.finishedStatus(payload.runId);
  if (reported) {
    // Finished and reported before a crash cut the job short: nothing to do again.
    return { status: reported as RunResultPayload['status'] };
  }
  if (deps.isCancelled(payload.runId)) {
    await reporter.finished(cancelledResult);
    return { status: 'cancelled', errorCode: 'CANCELLED' };
  }
  const claim = await deps.claim(payload);
  switch (claim.kind) {
    case 'refused':
      // Completing the job acknowledges it on the queue. No event is sent: the run is over for the api, and
      // a result under its id could only be noise beside the newer attempt that owns the slot.
      deps.log(
        'info',
        `run ${payload.runId} (attempt ${payload.attempt}) not flashed: the api refused the claim: ${claim.reason}`,
      );
      return { status: 'refused' };
    case 'unchecked':
      deps.log('warn', `run ${payload.runId}: could not claim it (${claim.reason}); flashing it anyway`);
      break;
    case 'claimed':
      break;
  }
  // Numbers this execution's log lines after every line an earlier one wrote (a re-flash is marked).
  await reporter.begin(claim.kind === 'claimed' ? claim.lastLogSeq : 0);
  const controller = new AbortController();
  deps.running.set(payload.runId, { runId: payload.runId, portPath: payload.portPath, controller });
  try {
    if (deps.isCancelled(payload.runId)) controller.abort(new RunAbort('cancel', 'the run was cancelled'));
    let result: RunResultPayload;
    try {
      result = await deps.service.execute(payload, reporter, controller.signal);
    } catch (err) {
      // A bug must still end the run with a reason, never leave it running.
      result = {
        ...cancelledResult,
        status: 'failed',
        errorCode: 'INTERNAL',
        errorMessage: (err as Error).message,
      };
    }
    await reporter.finished(result);
    return { status: result.status, errorCode: result.errorCode };
  } finally {
    deps.running.delete(payload.runId);
  }
}
