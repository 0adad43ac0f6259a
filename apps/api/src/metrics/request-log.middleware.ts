import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/index.js';
import { MetricsService } from './metrics.service.js';

/** Routes polled by machines: logged at verbose level when they succeed, so they do not drown the rest. */
const QUIET_ROUTES = new Set(['/health', '/metrics', '/agents/:id/heartbeat']);

/** One structured log line and one metrics sample per answered request. */
@Injectable()
export class RequestLogMiddleware implements NestMiddleware {
  private readonly logger = new Logger('http');

  constructor(private readonly metrics: MetricsService) {}

  use(request: Request & AuthenticatedRequest, response: Response, next: NextFunction): void {
    const started = performance.now();
    response.on('finish', () => {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const path = request.originalUrl.split('?')[0];
      // The route pattern keeps label values few (/devices/:idOrMac, not one per board).
      const routePath = (request as { route?: { path?: unknown } }).route?.path;
      const route = typeof routePath === 'string' ? `${request.baseUrl}${routePath}` : 'unmatched';
      this.metrics.httpRequests.inc({ method: request.method, route, status: String(response.statusCode) });
      this.metrics.httpDuration.observe({ method: request.method, route }, ms / 1000);
      const entry = {
        method: request.method,
        path,
        status: response.statusCode,
        ms,
        token: request.principal?.name ?? null,
      };
      if (response.statusCode >= 500) this.logger.error(entry);
      else if (QUIET_ROUTES.has(route) && response.statusCode < 400) this.logger.verbose(entry);
      else this.logger.log(entry);
    });
    next();
  }
}
