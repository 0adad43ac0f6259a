import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../auth/index.js';
import { ApiError } from '../common/api-error.js';
import { DashboardAssets, type DashboardAsset } from './dashboard-assets.js';

/**
 * The QA dashboard's static files. Public: they hold no farm data; every data
 * call the page makes carries the user's own token.
 */
@ApiExcludeController()
@Public()
@Controller()
export class DashboardController {
  private readonly assets = new DashboardAssets();

  @Get()
  async index(@Req() request: Request, @Res() response: Response): Promise<void> {
    const asset = await this.assets.index();
    if (!asset) throw ApiError.notFound('Dashboard page', 'index.html');
    send(request, response, asset);
  }

  @Get('app/:name')
  async asset(
    @Param('name') name: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const asset = await this.assets.asset(name);
    if (!asset) throw ApiError.notFound('Dashboard file', name);
    send(request, response, asset);
  }
}

function send(request: Request, response: Response, asset: DashboardAsset): void {
  response.setHeader('ETag', asset.etag);
  response.setHeader('Cache-Control', asset.cacheControl);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
  );
  if (request.headers['if-none-match'] === asset.etag) {
    response.status(304).end();
    return;
  }
  response.status(200).type(asset.contentType).send(asset.body);
}
