import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthView } from '#contracts';
import { Answers } from '../common/http-contract.js';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import { DATABASE, REDIS } from '../infra/tokens.js';
import { Public } from '../auth/index.js';
import type { Database } from '../infra/database.js';
import { AgentEventsConsumer } from '../runs/agent-events.consumer.js';

const CHECK_TIMEOUT_MS = 2_000;

interface CheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/**
 * Liveness and readiness: the database and Redis, each answered within a bounded time, and the
 * intake of agent events (Redis answering is not enough: a lost consumer group or an event that
 * cannot be stored stalls every run while both dependencies look fine).
 */
// Load balancers and orchestrators probe it without a token.
@Public()
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly intake: AgentEventsConsumer,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Health of the api, its database and Redis' })
  @Answers(HealthView, { description: 'Every dependency answered' })
  @Answers(HealthView, { status: 503, description: 'A dependency failed; the body says which' })
  async health(@Res() response: Response): Promise<void> {
    const [database, redis] = await Promise.all([
      check(() => this.database.ping()),
      check(async () => {
        await this.redis.ping();
      }),
    ]);
    const intake = this.intake.health();
    const agentEvents = {
      ok: intake.ok,
      latencyMs: 0,
      lastReadAgoMs: intake.lastReadAgoMs,
      ...(intake.error ? { error: intake.error } : {}),
    };
    const ok = database.ok && redis.ok && agentEvents.ok;
    response.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE).json({
      status: ok ? 'ok' : 'degraded',
      checks: { database: { ...database, kind: this.database.kind }, redis, agentEvents },
    } satisfies HealthView);
  }
}

async function check(probe: () => Promise<void>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}
