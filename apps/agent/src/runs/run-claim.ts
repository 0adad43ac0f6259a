/**
 * The agent's half of the run claim (POST /agents/:id/runs/:runId/claim): a
 * run taken from the queue is claimed before it touches its board, so a run
 * the api has ended meanwhile — typically one BullMQ redelivers after the
 * agent was killed, whose slot a newer attempt now owns — is dropped unflashed.
 */
import { ApiErrorCode, type ClaimRunRequest, type ClaimRunResponse, type FlashRunPayload } from '#contracts';
import { ApiRequestError } from '../api/agent-api.client.js';

/** What the api said about a run the agent is about to start. */
export type RunClaim =
  /** The run is this agent's to flash. */
  | { kind: 'claimed'; lastLogSeq?: number }
  /** The api no longer wants the run flashed: drop it and report nothing. */
  | { kind: 'refused'; reason: string }
  /** The api could not be asked: flash anyway, as agents did before claims existed. */
  | { kind: 'unchecked'; reason: string };

/** The part of the api client a claim needs. */
export interface RunClaimClient {
  claimRun(agentId: string, runId: string, body: ClaimRunRequest): Promise<ClaimRunResponse>;
}

/**
 * Claims a run. Only an explicit refusal (409 RUN_NOT_CLAIMABLE) stops it.
 * Anything else — the api down or slow, a 5xx, an api older than the claim
 * route (404) — lets the run go ahead: an api outage must not stop a line from
 * flashing (results wait in Redis), and the api still cancels a run it had
 * ended when its run.started arrives.
 */
export async function claimRun(
  api: RunClaimClient,
  agentId: string,
  payload: Pick<FlashRunPayload, 'runId' | 'attempt'>,
): Promise<RunClaim> {
  try {
    const claimed = await api.claimRun(agentId, payload.runId, { attempt: payload.attempt });
    return claimed.lastLogSeq === undefined
      ? { kind: 'claimed' }
      : { kind: 'claimed', lastLogSeq: claimed.lastLogSeq };
  } catch (err) {
    if (err instanceof ApiRequestError && err.code === ApiErrorCode.RUN_NOT_CLAIMABLE)
      return { kind: 'refused', reason: err.detail ?? err.message };
    return { kind: 'unchecked', reason: (err as Error).message };
  }
}
