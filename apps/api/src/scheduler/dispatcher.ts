/**
 * The api's side of the agent queues: adds bound runs to the agent's BullMQ
 * queue (job id = run id, so adding twice is harmless) and sends control
 * messages on the agent's pub/sub channel.
 */
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  FLASH_RUN_JOB,
  agentControlChannel,
  agentRunQueueName,
  type AgentControlMessage,
  type FlashRunPayload,
} from '#contracts';
import { REDIS } from '../infra/tokens.js';
import { closeWithin } from '../infra/bounded-close.js';

/** Finished queue entries are kept this long so a re-add of the same run id stays a no-op. */
const KEEP_FINISHED_S = 24 * 3600;

@Injectable()
export class Dispatcher implements OnApplicationShutdown {
  private readonly queues = new Map<string, Queue>();

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** Puts a bound run on its agent's queue. */
  async dispatch(agentId: string, payload: FlashRunPayload): Promise<void> {
    await this.queue(agentId).add(FLASH_RUN_JOB, payload, {
      jobId: payload.runId,
      // Retries are decided from results (new attempts), never by BullMQ re-running a run row.
      attempts: 1,
      removeOnComplete: { age: KEEP_FINISHED_S },
      removeOnFail: { age: KEEP_FINISHED_S },
    });
  }

  /** True when the run is still on the agent's queue (waiting, active, or kept after finishing). */
  async isQueued(agentId: string, runId: string): Promise<boolean> {
    return (await this.queue(agentId).getJob(runId)) !== undefined;
  }

  /** True when the run waits on the agent's queue: added, not taken by any worker yet. */
  async isWaiting(agentId: string, runId: string): Promise<boolean> {
    const job = await this.queue(agentId).getJob(runId);
    if (!job) return false;
    const state = await job.getState();
    return state === 'waiting' || state === 'prioritized' || state === 'delayed';
  }

  /** True when a worker of the agent is connected to this Redis on its queue (BullMQ names worker connections). */
  async hasWorker(agentId: string): Promise<boolean> {
    return (await this.queue(agentId).getWorkersCount()) > 0;
  }

  /** Takes a run off the agent's queue if no agent picked it up yet; true when removed. */
  async withdraw(agentId: string, runId: string): Promise<boolean> {
    const job = await this.queue(agentId).getJob(runId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // picked up (locked) meanwhile
    }
  }

  /** Sends a control message to one agent. */
  async control(agentId: string, message: AgentControlMessage): Promise<void> {
    await this.redis.publish(agentControlChannel(agentId, this.redis), JSON.stringify(message));
  }

  async onApplicationShutdown(): Promise<void> {
    const queues = [...this.queues.values()];
    this.queues.clear();
    // Bounded: with Redis unreachable a queue's close waits for its connection forever.
    await Promise.all(queues.map((q) => closeWithin(q)));
  }

  private queue(agentId: string): Queue {
    let queue = this.queues.get(agentId);
    if (!queue) {
      queue = new Queue(agentRunQueueName(agentId), { connection: this.redis });
      queue.on('error', () => {}); // surfaced through the failing add/getJob calls
      this.queues.set(agentId, queue);
    }
    return queue;
  }
}
