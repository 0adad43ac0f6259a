/**
 * Appends agent events to AGENT_EVENTS_STREAM (one JSON document in the
 * `event` field), where the api's consumer group picks them up. The stream
 * keeps them while the api is down, so nothing a run reports is lost.
 */
import type { Redis } from 'ioredis';
import {
  AGENT_EVENT_FIELD,
  AGENT_EVENTS_STREAM,
  AGENT_EVENTS_STREAM_MAX_ENTRIES,
  agentRunDoneKey,
  agentRunSeqKey,
  deviceConsoleStream,
  type AgentEvent,
} from '#contracts';

/** Console output kept per device (approximate trim). */
const CONSOLE_STREAM_MAX_ENTRIES = 2_000;

/** Writes AgentEvents to Redis. */
export class AgentEventsPublisher {
  constructor(private readonly redis: Redis) {}

  /**
   * Appends one event; resolves with its stream id. A run's log lines also leave, in the same
   * transaction, their last seq as the run's mark here (see lastSeq): a later execution of the run
   * numbers its lines after every line of this one that may still wait in the stream.
   */
  async publish(event: AgentEvent): Promise<string> {
    const last = event.type === 'run.log' ? event.lines.at(-1)?.seq : undefined;
    if (event.type !== 'run.log' || last === undefined) {
      const id = await this.redis.xadd(
        AGENT_EVENTS_STREAM,
        ...bounded(),
        AGENT_EVENT_FIELD,
        JSON.stringify(event),
      );
      return id ?? '';
    }
    const results = await this.redis
      .multi()
      .xadd(AGENT_EVENTS_STREAM, ...bounded(), AGENT_EVENT_FIELD, JSON.stringify(event))
      .set(agentRunSeqKey(event.runId), last, 'EX', RUN_SEQ_TTL_S)
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('the run.log transaction was discarded');
    const id = results[0][1];
    return typeof id === 'string' ? id : '';
  }

  /**
   * Appends a run's final event and remembers, in the same transaction, that the
   * run is done here, so a redelivery of its job (a crash between the two) is not flashed again.
   */
  async publishFinished(event: Extract<AgentEvent, { type: 'run.finished' }>): Promise<void> {
    const results = await this.redis
      .multi()
      .xadd(AGENT_EVENTS_STREAM, ...bounded(), AGENT_EVENT_FIELD, JSON.stringify(event))
      .set(agentRunDoneKey(event.runId), event.result.status, 'EX', RUN_SEQ_TTL_S)
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('the run.finished transaction was discarded');
  }

  /** The status this agent already reported for a run, if it did. */
  async finishedStatus(runId: string): Promise<string | undefined> {
    return (await this.redis.get(agentRunDoneKey(runId))) ?? undefined;
  }

  /** Console text goes to the device's capped stream (for late readers) and to the events stream (for live ones). */
  async console(deviceId: string, text: string): Promise<void> {
    const at = new Date().toISOString();
    await this.redis.xadd(
      deviceConsoleStream(deviceId),
      'MAXLEN',
      '~',
      CONSOLE_STREAM_MAX_ENTRIES,
      '*',
      'at',
      at,
      'text',
      text,
    );
    await this.publish({ type: 'console.data', deviceId, at, text });
  }

  /**
   * The last log seq this agent wrote for a run in an earlier execution (0: none, or Redis lost it).
   * Only a starting point: the run's reporter counts its own seqs from there (RunReporter), so Redis
   * restarting empty mid-run never makes numbers start over.
   */
  async lastSeq(runId: string): Promise<number> {
    const value = Number(await this.redis.get(agentRunSeqKey(runId)));
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  }
}

/** XADD arguments that keep the stream bounded even while no api reads it (see AGENT_EVENTS_STREAM_MAX_ENTRIES). */
function bounded(): ['MAXLEN', '~', number, '*'] {
  return ['MAXLEN', '~', AGENT_EVENTS_STREAM_MAX_ENTRIES, '*'];
}

/** A run's sequence counter (and its done mark) outlive any redelivery of it. */
const RUN_SEQ_TTL_S = 7 * 24 * 3600;
