/** Authentication and roles for every api route: decorators, the guard and the token store. */
export {
  ALL_ROLES,
  READ_ROLES,
  Principal,
  Public,
  PublicWhen,
  Roles,
  type AuthPrincipal,
  type AuthenticatedRequest,
  type Role,
} from './roles.js';
export { AuthGuard } from './auth.guard.js';
export { AuthModule } from './auth.module.js';
export {
  BOOTSTRAP_ADMIN_NAME,
  TokenStore,
  TokensService,
  type CreatedToken,
  type StoredToken,
} from './tokens.service.js';
export { generateTokenSecret, hashTokenSecret } from './token-secret.js';
export { tokenRevokedChannel } from './token-revocations.js';
