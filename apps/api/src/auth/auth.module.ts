import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { TokensController } from './tokens.controller.js';
import { TokensService } from './tokens.service.js';
import { WhoamiController } from './whoami.controller.js';

/** Bearer tokens, roles and the global guard that enforces them on every route. */
@Module({
  controllers: [TokensController, WhoamiController],
  providers: [TokensService, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokensService],
})
export class AuthModule {}
