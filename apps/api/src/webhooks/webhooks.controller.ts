import { Controller, Delete, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import {
  WebhookDeliveriesQuery,
  WebhookDeliveryPage,
  WebhookDeliveryView,
  WebhookRequest,
  WebhookView,
  type Page,
} from '#contracts';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { Answers, Problems, ValidBody, ValidQuery } from '../common/http-contract.js';
import { WebhooksService } from './webhooks.service.js';

/** A campaign's webhook: every finished unit record POSTed, signed, to a label printer or MES. */
@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('campaigns/:id/webhook')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Put()
  @Roles('operator')
  @ApiOperation({
    summary: "Set the campaign's webhook",
    description:
      'Every unit record that becomes final (PASS or FAIL) is POSTed as JSON to url with X-Flashfarm-Event, X-Flashfarm-Delivery, X-Flashfarm-Timestamp and X-Flashfarm-Signature (sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret). Failed attempts are retried with exponential back-off; the line never waits for the receiver. The secret is never answered back.',
  })
  @Answers(WebhookView)
  @Problems('NOT_FOUND')
  put(
    @Param('id') id: string,
    @ValidBody(WebhookRequest, 'webhook', 'WEBHOOK_INVALID') body: z.output<typeof WebhookRequest>,
    @Principal() principal: AuthPrincipal | undefined,
  ): Promise<WebhookView> {
    return this.webhooks.put(id, body, principal?.name ?? 'unknown');
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "The campaign's webhook (without its secret)" })
  @Answers(WebhookView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<WebhookView> {
    return this.webhooks.get(id);
  }

  @Delete()
  @HttpCode(204)
  @Roles('operator')
  @ApiOperation({ summary: "Remove the campaign's webhook; deliveries still queued end failed" })
  @Answers(undefined, { status: 204, description: 'Removed' })
  @Problems('NOT_FOUND')
  async remove(@Param('id') id: string): Promise<void> {
    await this.webhooks.remove(id);
  }

  @Get('deliveries')
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary:
      'The delivery log, newest first: each unit record sent, with every attempt (HTTP status or error, duration, time)',
  })
  @Answers(WebhookDeliveryPage)
  @Problems('NOT_FOUND')
  deliveries(
    @Param('id') id: string,
    @ValidQuery(WebhookDeliveriesQuery) query: WebhookDeliveriesQuery,
  ): Promise<Page<WebhookDeliveryView>> {
    return this.webhooks.deliveries(id, query);
  }

  @Post('deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({ summary: 'Send a delivery again (same body, a new delivery with its own attempts)' })
  @Answers(WebhookDeliveryView, { status: 202, description: 'Queued' })
  @Problems('NOT_FOUND', 'CONFLICT')
  redeliver(@Param('id') id: string, @Param('deliveryId') deliveryId: string): Promise<WebhookDeliveryView> {
    return this.webhooks.redeliver(id, deliveryId);
  }
}
