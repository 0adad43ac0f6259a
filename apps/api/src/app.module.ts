import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ApiConfig } from './config/api-config.js';
import type { Infrastructure } from './infra/infrastructure.js';
import { AGENT_QUEUE_URL, API_CONFIG, DATABASE, PRISMA, REDIS } from './infra/tokens.js';
import { HealthController } from './health/health.controller.js';
import { ProblemFilter } from './common/problem.filter.js';
import { AuthModule } from './auth/index.js';
import { FirmwareModule } from './firmware/firmware.module.js';
import { AgentsModule } from './agents/index.js';
import { DevicesModule } from './devices/devices.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { EventsModule } from './events/events.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { RunsModule } from './runs/runs.module.js';
import { SchedulerModule } from './scheduler/scheduler.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { CampaignsModule } from './campaigns/campaigns.module.js';
import { FarmModule } from './farm/farm.module.js';
import { StatsModule } from './stats/stats.module.js';

/** Makes the configuration and the open connections injectable everywhere. */
@Global()
@Module({})
class CoreModule {
  static register(config: ApiConfig, infra: Infrastructure): DynamicModule {
    const providers = [
      { provide: API_CONFIG, useValue: config },
      { provide: DATABASE, useValue: infra.database },
      { provide: PRISMA, useValue: infra.database.prisma },
      { provide: REDIS, useValue: infra.redis },
      { provide: AGENT_QUEUE_URL, useValue: config.agents.queueRedisUrl ?? infra.redisEndpoint.url },
    ];
    return { module: CoreModule, providers, exports: providers.map((p) => p.provide) };
  }
}

/** The api's root module. Feature modules are listed here. */
@Module({})
export class AppModule {
  static register(config: ApiConfig, infra: Infrastructure): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.register(config, infra),
        AuthModule,
        FirmwareModule,
        AgentsModule,
        DevicesModule,
        MetricsModule,
        EventsModule,
        RunsModule,
        SchedulerModule,
        JobsModule,
        DashboardModule,
        CampaignsModule,
        FarmModule,
        StatsModule,
      ],
      controllers: [HealthController],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
