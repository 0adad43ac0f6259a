import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AgentConfig } from './config/agent-config.js';
import { AgentRuntime } from './lifecycle/agent-runtime.js';
import { AGENT_CONFIG, AGENT_REDIS } from './tokens.js';

export { AGENT_CONFIG, AGENT_REDIS };

/** Closes the Redis connection when the application context shuts down. */
@Injectable()
class RedisLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('agent');
  constructor(@Inject(AGENT_REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(signal?: string): Promise<void> {
    this.logger.log(`shutting down${signal ? ` on ${signal}` : ''}`);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** The agent's root module: an application context, no HTTP server. */
@Global()
@Module({})
export class AgentModule {
  static register(config: AgentConfig, redis: Redis): DynamicModule {
    const providers = [
      { provide: AGENT_CONFIG, useValue: config },
      { provide: AGENT_REDIS, useValue: redis },
    ];
    return {
      module: AgentModule,
      providers: [...providers, RedisLifecycle, AgentRuntime],
      exports: [...providers.map((p) => p.provide), AgentRuntime],
    };
  }
}
