import { SetMetadata, applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import { TOKEN_ROLES, type TokenRole } from '#contracts';
import { Problems } from '../common/http-contract.js';
import type { ApiConfig } from '../config/api-config.js';

/** A token's role. Admin may call every route; the others only routes that list them. */
export type Role = TokenRole;

/** Every role, in the order they are documented. */
export const ALL_ROLES: readonly Role[] = TOKEN_ROLES;

/** The people-facing roles that may read farm state (devices, firmware, jobs, agents). */
export const READ_ROLES: readonly Role[] = ['admin', 'ci', 'operator', 'viewer'];

export const ROLES_KEY = 'flashfarm:roles';
export const PUBLIC_KEY = 'flashfarm:public';
export const PUBLIC_WHEN_KEY = 'flashfarm:public-when';

/** Who is calling: attached to the request by the auth guard. */
export interface AuthPrincipal {
  tokenId: string;
  name: string;
  role: Role;
  /** Agent tokens: the agent (by name) the token speaks for, once bound; null before its first registration. */
  agentName: string | null;
}

/** The request as the guard leaves it. */
export interface AuthenticatedRequest {
  principal?: AuthPrincipal;
}

/**
 * Roles allowed to call a route (or every route of a controller). Admin is always allowed.
 * A route without @Roles or @Public is refused: nothing is open by accident.
 */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ROLES_KEY, roles),
    ApiBearerAuth(),
    ApiExtension('x-roles', roles.includes('admin') ? roles : ['admin', ...roles]),
    // Every route with roles answers 401 without a valid token and 403 to another role.
    Problems('UNAUTHORIZED', 'FORBIDDEN'),
  );

/** A route anyone may call without a token (health, docs). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

/**
 * A route that is public when the configuration says so (e.g. /metrics with
 * FLASHFARM_METRICS_PUBLIC=true); otherwise its @Roles apply.
 */
export const PublicWhen = (predicate: (config: ApiConfig) => boolean): MethodDecorator & ClassDecorator =>
  SetMetadata(PUBLIC_WHEN_KEY, predicate);

/** The calling token (id, name, role); undefined only on @Public routes. */
export const Principal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthPrincipal | undefined =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().principal,
);
