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

/** Injection tokens of the agent. */
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
export const AGENT_REDIS = Symbol('AGENT_REDIS');

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
      providers: [...providers, RedisLifecycle],
      exports: providers.map((p) => p.provide),
    };
  }
}
