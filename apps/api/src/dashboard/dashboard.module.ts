import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller.js';

/** Serves the QA dashboard (apps/dashboard) at / and /app/*. */
@Module({ controllers: [DashboardController] })
export class DashboardModule {}
