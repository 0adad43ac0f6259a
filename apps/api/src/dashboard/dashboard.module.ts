import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller.js';
import { ConsoleRelay } from './console-relay.js';
import { DashboardController } from './dashboard.controller.js';

/** Serves the QA dashboard (apps/dashboard) at / and /app/*, and relays board consoles to it. */
@Module({ controllers: [DashboardController, ConsoleController], providers: [ConsoleRelay] })
export class DashboardModule {}
