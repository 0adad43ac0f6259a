/**
 * Fan-out of stored run and job changes to every api replica's SSE listeners.
 * Every replica publishes on the fan-out channel and receives its own messages
 * back through Redis, so listeners see one order whichever replica stored the change.
 */
import { EventEmitter } from 'node:events';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { apiFanoutChannel, type RunProgressFields, type RunSnapshot } from '#contracts';
import { REDIS } from '../infra/tokens.js';

/** A stored log line, with its row id (the job stream's resume cursor). */
export interface LiveLogLine {
  id: string;
  seq: number;
  ts: string;
  level: string;
  stage: string | null;
  text: string;
}

/** What travels on the fan-out channel. */
export type LiveMessage =
  | { kind: 'run'; jobId: string; runId: string; run: RunSnapshot }
  | ({ kind: 'progress'; jobId: string; runId: string } & RunProgressFields)
  | { kind: 'log'; jobId: string; runId: string; lines: LiveLogLine[] }
  | {
      kind: 'job';
      jobId: string;
      job: { id: string; status: string; startedAt: string | null; finishedAt: string | null };
    }
  /** Something changed that may let a waiting run be bound: every replica runs a scheduling pass. */
  | { kind: 'schedule' };

/** Publishes to and listens on the replicas' fan-out channel. */
@Injectable()
export class LiveEvents implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('live-events');
  private readonly emitter = new EventEmitter();
  private subscriber?: Redis;
  private readonly channel: string;

  constructor(@Inject(REDIS) private readonly redis: Redis) {
    // One listener per open SSE stream: hundreds are normal.
    this.emitter.setMaxListeners(0);
    this.channel = apiFanoutChannel(redis);
  }

  async onModuleInit(): Promise<void> {
    const subscriber = this.redis.duplicate();
    subscriber.on('error', () => {}); // ioredis reconnects; /health reports Redis
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let message: LiveMessage;
      try {
        message = JSON.parse(text) as LiveMessage;
      } catch {
        this.logger.warn(`dropping a malformed fan-out message: ${text.slice(0, 120)}`);
        return;
      }
      this.emitter.emit('message', message);
    });
    await subscriber.subscribe(this.channel);
    this.subscriber = subscriber;
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
    this.emitter.removeAllListeners();
  }

  /** Sends a message to every replica (this one included). Failures are logged: the database already holds the change. */
  async publish(message: LiveMessage): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(message));
    } catch (error) {
      this.logger.warn(`fan-out publish failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Calls listener for every message; returns the unsubscribe function. */
  subscribe(listener: (message: LiveMessage) => void): () => void {
    this.emitter.on('message', listener);
    return () => this.emitter.off('message', listener);
  }
}
