import { describe, expect, it } from '@jest/globals';
import { Reflector } from '@nestjs/core';
import type { ExecutionContext } from '@nestjs/common';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { AuthGuard } from './auth.guard.js';
import { Public, Roles, type AuthPrincipal } from './roles.js';
import type { TokensService } from './tokens.service.js';

class Routes {
  undeclared(): void {}
  @Public() open(): void {}
  @Roles('operator') edit(): void {}
}

function contextFor(handler: keyof Routes, authorization?: string) {
  const headers: Record<string, string> = {};
  const request = { method: 'GET', path: `/${handler}`, headers: authorization ? { authorization } : {} };
  const response = { setHeader: (k: string, v: string) => (headers[k] = v) };
  const context = {
    getType: () => 'http',
    getHandler: () => Object.getOwnPropertyDescriptor(Routes.prototype, handler)?.value as unknown,
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
  } as unknown as ExecutionContext;
  return { context, headers, request: request as typeof request & { principal?: AuthPrincipal } };
}

const tokens = {
  authenticate: (secret: string) =>
    Promise.resolve(
      secret === 'ff_viewer'
        ? { tokenId: '1', name: 'qa', role: 'viewer' }
        : secret === 'ff_operator'
          ? { tokenId: '2', name: 'line', role: 'operator' }
          : 'unknown',
    ),
} as unknown as TokensService;
const guard = new AuthGuard(new Reflector(), tokens, {} as ApiConfig);

async function refusal(promise: Promise<boolean>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('the guard let the request through');
}

describe('AuthGuard', () => {
  it('refuses a route that declares neither @Roles nor @Public, even for a valid token', async () => {
    const { context } = contextFor('undeclared', 'Bearer ff_operator');
    const error = await refusal(guard.canActivate(context));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/declares no roles/);
  });

  it('lets anyone through a @Public route', async () => {
    expect(await guard.canActivate(contextFor('open').context)).toBe(true);
  });

  it('401 with WWW-Authenticate for a missing or unknown token, 403 for a wrong role', async () => {
    const missing = contextFor('edit');
    expect((await refusal(guard.canActivate(missing.context))).status).toBe(401);
    expect(missing.headers['WWW-Authenticate']).toBe('Bearer realm="flashfarm"');
    const unknown = contextFor('edit', 'Bearer ff_other');
    expect((await refusal(guard.canActivate(unknown.context))).code).toBe('UNAUTHORIZED');
    const viewer = contextFor('edit', 'Bearer ff_viewer');
    const error = await refusal(guard.canActivate(viewer.context));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/needs one of: admin, operator/);
  });

  it('attaches the principal for an allowed role', async () => {
    const ok = contextFor('edit', 'Bearer ff_operator');
    expect(await guard.canActivate(ok.context)).toBe(true);
    expect(ok.request.principal).toEqual({ tokenId: '2', name: 'line', role: 'operator' });
  });

  it('takes ?access_token= on event streams only (EventSource cannot send headers)', async () => {
    const at = (path: string, query: Record<string, string>) => {
      const { context, request } = contextFor('edit');
      Object.assign(request, { path, query });
      return { context, request };
    };
    const stream = at('/runs/r1/events', { access_token: 'ff_operator' });
    expect(await guard.canActivate(stream.context)).toBe(true);
    expect(stream.request.principal?.name).toBe('line');

    const elsewhere = at('/devices', { access_token: 'ff_operator' });
    expect((await refusal(guard.canActivate(elsewhere.context))).status).toBe(401);

    const badStreamToken = at('/jobs/j1/events', { access_token: 'ff_nope' });
    expect((await refusal(guard.canActivate(badStreamToken.context))).status).toBe(401);
  });
});
