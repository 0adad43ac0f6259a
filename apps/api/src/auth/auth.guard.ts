import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ApiErrorCode } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';
import { PUBLIC_KEY, PUBLIC_WHEN_KEY, ROLES_KEY, type AuthenticatedRequest, type Role } from './roles.js';
import { TokensService } from './tokens.service.js';

const BEARER_RE = /^Bearer\s+(\S+)\s*$/i;

const FAILURE_TEXT = {
  unknown: 'The bearer token is not known to this farm.',
  revoked: 'The bearer token has been revoked.',
  expired: 'The bearer token has expired.',
} as const;

/**
 * The global guard: every route needs @Public() or @Roles(...). Missing,
 * unknown, revoked or expired tokens get 401 with WWW-Authenticate; a valid
 * token of the wrong role gets 403 naming the roles allowed.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_KEY, targets)) return true;
    const publicWhen = this.reflector.getAllAndOverride<((c: ApiConfig) => boolean) | undefined>(
      PUBLIC_WHEN_KEY,
      targets,
    );
    if (publicWhen?.(this.config)) return true;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    const http = context.switchToHttp();
    const request = http.getRequest<Request & AuthenticatedRequest>();
    const response = http.getResponse<Response>();
    if (!roles || roles.length === 0)
      // Deny by default: a route nobody declared roles for is a bug, not an open door.
      throw new ApiError(
        ApiErrorCode.FORBIDDEN,
        `${request.method} ${request.path} declares no roles and is closed to everyone.`,
      );

    const header = request.headers.authorization;
    const unauthorized = (message: string, error?: string): never => {
      response.setHeader(
        'WWW-Authenticate',
        error ? `Bearer realm="flashfarm", error="${error}"` : 'Bearer realm="flashfarm"',
      );
      throw new ApiError(ApiErrorCode.UNAUTHORIZED, message);
    };
    const streamToken = header ? undefined : eventStreamToken(request);
    if (!header && !streamToken)
      return unauthorized('This route needs an API token: send "Authorization: Bearer <token>".');
    const match = header ? BEARER_RE.exec(header) : null;
    if (header && !match)
      return unauthorized('The Authorization header must be "Bearer <token>".', 'invalid_request');
    const result = await this.tokens.authenticate(match?.[1] ?? streamToken ?? '');
    if (typeof result === 'string') return unauthorized(FAILURE_TEXT[result], 'invalid_token');
    request.principal = result;
    if (result.role === 'admin' || roles.includes(result.role)) return true;
    const allowed = roles.includes('admin') ? roles : ['admin', ...roles];
    throw new ApiError(
      ApiErrorCode.FORBIDDEN,
      `Token "${result.name}" has role ${result.role}; ${request.method} ${routePath(request)} needs one of: ${allowed.join(', ')}.`,
    );
  }
}

/**
 * Browsers' EventSource cannot send headers, so event streams (GET …/events,
 * …/console) also take the token as `?access_token=`. Only those read-only
 * streams do: anywhere else a token in a URL would end up in logs for nothing.
 */
function eventStreamToken(request: Request): string | undefined {
  if (request.method !== 'GET' || !/\/(events|console)$/.test(request.path)) return undefined;
  const value = request.query?.access_token;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function routePath(request: Request): string {
  // Express types `route` as any; its path is the pattern (/devices/:id), clearer than the concrete URL.
  const route = (request as { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? route.path : request.path;
}
