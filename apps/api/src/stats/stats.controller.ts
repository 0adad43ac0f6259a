import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BreakdownView, FailureStatsView, StatsBreakdownQuery, StatsQuery, TrendView } from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers, Problems, ValidQuery } from '../common/http-contract.js';
import { StatsService } from './stats.service.js';

/** Aggregates of ended runs for the dashboard's trends: over time, by error code, by board/agent/chip/firmware. */
@ApiTags('stats')
@ApiBearerAuth()
@Controller('stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get('trend')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Flash duration, throughput and outcomes of ended runs per hour or day' })
  @Answers(TrendView)
  @Problems('VALIDATION_FAILED')
  trend(@ValidQuery(StatsQuery) query: StatsQuery): Promise<TrendView> {
    return this.stats.trend(query);
  }

  @Get('failures')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Failed runs by error code and their share of the ended runs' })
  @Answers(FailureStatsView)
  @Problems('VALIDATION_FAILED')
  failures(@ValidQuery(StatsQuery) query: StatsQuery): Promise<FailureStatsView> {
    return this.stats.failures(query);
  }

  @Get('breakdown')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Ended runs, yield, duration and throughput per board, agent, chip or firmware' })
  @Answers(BreakdownView)
  @Problems('VALIDATION_FAILED')
  breakdown(@ValidQuery(StatsBreakdownQuery) query: StatsBreakdownQuery): Promise<BreakdownView> {
    return this.stats.breakdown(query);
  }
}
