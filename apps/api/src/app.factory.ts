/**
 * Builds the api: infrastructure first (fail fast), then the Nest app with
 * OpenAPI. Used by main.ts, the demo and the tests, so all run the same app.
 */
import 'reflect-metadata';
import { ConsoleLogger, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ApiConfig } from './config/api-config.js';
import { openInfrastructure, type Infrastructure } from './infra/infrastructure.js';
import { AppModule } from './app.module.js';
import { openApiDocument } from './openapi.js';
import { markBodyNotUtf8, textGuard } from './common/text-guard.middleware.js';

/** How long requests in flight may run on after shutdown begins before their connections are closed. */
const SHUTDOWN_GRACE_MS = 10_000;

/** A running (or ready to listen) api. */
export interface ApiApp {
  app: INestApplication;
  infra: Infrastructure;
  /** The OpenAPI document served at /api/openapi.json. */
  document: OpenAPIObject;
  /** Stops accepting requests, then closes connections. */
  close(): Promise<void>;
}

/** Options for createApiApp. */
export interface CreateApiAppOptions {
  logger?: LoggerService | false;
}

/** The logger the api uses: JSON lines for machines, or Nest's pretty output. */
export function createLogger(format: ApiConfig['logFormat']): LoggerService {
  return new ConsoleLogger({ json: format === 'json', prefix: 'flashfarm-api' });
}

/** Opens the infrastructure and builds the Nest application (not yet listening). */
export async function createApiApp(config: ApiConfig, options: CreateApiAppOptions = {}): Promise<ApiApp> {
  const logger = options.logger === undefined ? createLogger(config.logFormat) : options.logger;
  const log = (message: string): void => {
    if (logger) logger.log(message, 'startup');
  };
  const infra = await openInfrastructure(config, log);
  let app: NestExpressApplication;
  try {
    app = await NestFactory.create<NestExpressApplication>(AppModule.register(config, infra), {
      logger: logger === false ? false : logger,
      bodyParser: true,
    });
  } catch (error) {
    await infra.close();
    throw error;
  }
  // The parser would replace bytes that are not UTF-8 silently; they are noted and refused (INVALID_TEXT).
  // (Through a variable: Nest's option type leaves out `verify`, which it uses for rawBody, but passes it on.)
  const jsonOptions = { limit: '1mb', verify: markBodyNotUtf8 };
  app.useBodyParser('json', jsonOptions);
  // Mounted now, so it runs after the JSON parser and before every route (text-guard.middleware.ts).
  app.use(textGuard);
  // Requests are validated by each route's zod schema from libs/contracts (common/http-contract.ts).
  const document = openApiDocument(app);
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/openapi.json' });
  // Closing twice (a signal during a close, a test's clean-up) waits for the one close.
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    // Event streams are ended by SseStreams before the server closes; any
    // other request still running after the grace period (a stalled upload,
    // a client that keeps a connection busy) is cut so the process can exit.
    const server = app.getHttpServer();
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    force.unref();
    try {
      await app.close();
    } finally {
      clearTimeout(force);
    }
    await infra.close();
  };
  return { app, infra, document, close: () => (closing ??= close()) };
}
