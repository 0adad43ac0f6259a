/**
 * Whether this replica may judge agents lost yet. Recovery (an agent declared offline, its runs
 * failed with INFRASTRUCTURE and flashed again elsewhere) reads silence as death; silence only
 * means something while this api was able to hear. After the api starts, after a pause of its own
 * (the process stopped or its event loop blocked), or after its database came back, stale
 * heartbeats say nothing about the agents: they kept flashing and stored their results in Redis.
 *
 * So recovery waits until (1) every agent event stored when hearing resumed has been read and
 * stored (a run that finished meanwhile ends as the agent reported, not as lost), and (2) one
 * heartbeat period and a half has passed, in which every live agent has heartbeated again.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';
import { AgentEventsConsumer } from './agent-events.consumer.js';

/** How often the gate looks at its own clock to notice a pause. */
const PAUSE_TICK_MS = 250;
/** Heartbeat periods given to agents after hearing resumed (one, plus slack for timers and the network). */
const HEARTBEAT_PERIODS_AFTER_RESUME = 1.5;
/** A gap between two ticks longer than this many heartbeat periods is a pause: heartbeats could not be heard. */
const PAUSE_HEARTBEAT_PERIODS = 2;
/**
 * ...and longer than this: a busy machine stalls an event loop for a second now and then, and with
 * short heartbeats each stall would close the gate again (a drain and a heartbeat period each time),
 * holding recovery back for as long as the load lasts. A pause this long is a real outage.
 */
const PAUSE_MIN_MS = 5_000;

@Injectable()
export class RecoveryGate implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('recovery');
  private resumedAt = Date.now();
  private resumeReason = 'the api started';
  private lastTickAt = Date.now();
  private timer?: NodeJS.Timeout;
  private announced = false;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly intake: AgentEventsConsumer,
  ) {}

  onModuleInit(): void {
    this.resume('the api started');
    this.timer = setInterval(() => this.tick(), PAUSE_TICK_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Hearing starts again now: recovery waits for the drain and one heartbeat period. */
  resume(reason: string, now = Date.now()): void {
    this.resumedAt = now;
    this.resumeReason = reason;
    this.announced = false;
    this.intake.requestDrain(now);
  }

  /** True when agents may be judged by their heartbeats (see the file's comment). */
  isOpen(now = Date.now()): boolean {
    this.tick(now);
    const waitMs = this.config.agents.heartbeatMs * HEARTBEAT_PERIODS_AFTER_RESUME;
    const open = now - this.resumedAt >= waitMs && this.intake.drainedSince(this.resumedAt);
    if (open && !this.announced) {
      this.announced = true;
      if (this.resumeReason !== 'the api started')
        this.logger.log(
          `agent events read and agents heard again after ${this.resumeReason}: recovery resumes`,
        );
    }
    return open;
  }

  private tick(now = Date.now()): void {
    const gap = now - this.lastTickAt;
    this.lastTickAt = now;
    if (gap > this.config.agents.heartbeatMs * PAUSE_HEARTBEAT_PERIODS && gap > PAUSE_MIN_MS) {
      this.logger.warn(
        `the api was paused for ${(gap / 1000).toFixed(1)} s: agents are heard again before any is judged lost`,
      );
      this.resume(`a pause of ${(gap / 1000).toFixed(1)} s`, now);
    }
  }
}
