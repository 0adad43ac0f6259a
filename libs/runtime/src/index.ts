export { ConfigError, parseEnv } from './config-error.js';
export { ensureRedis, freePort, pingRedis, RedisUnavailableError } from './local-redis.js';
export type { EnsureRedisOptions, RedisEndpoint } from './local-redis.js';
export { packageVersion } from './package-version.js';
export { assertCanListen, listenFailure, StartupError, startupFailureText } from './startup-error.js';
