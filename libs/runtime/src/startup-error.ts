import net from 'node:net';
import { ConfigError } from './config-error.js';

/** A fatal start-up problem an operator fixes by changing one setting; the message names the variable and the fix. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

/**
 * Errors whose message is the whole story for an operator (a setting to
 * change, a server to start): printed without a stack trace. Anything else is
 * a defect, and its stack is printed after the line.
 */
const OPERATOR_ERRORS = new Set([
  'ConfigError',
  'StartupError',
  'RedisUnavailableError',
  'DatabaseUnavailableError',
]);

/** What a failed start prints: one line per problem, each naming the variable and the fix. */
export function startupFailureText(program: string, error: unknown): string {
  const prefix = `flashfarm ${program} failed to start:`;
  if (error instanceof ConfigError)
    return error.problems
      .map((p) => `${prefix} ${p.variable}: ${p.message} (see "Configuration" in README.md)\n`)
      .join('');
  if (!(error instanceof Error)) return `${prefix} ${String(error)}\n`;
  const line = `${prefix} ${error.message.replace(/\s*\n\s*/g, ' ')}\n`;
  return OPERATOR_ERRORS.has(error.name) ? line : `${line}${error.stack ?? ''}\n`;
}

/** Turns a listen() failure into the setting that causes it; other errors pass through. */
export function listenFailure<E>(error: E, where: { host: string; port: number }): E | StartupError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (code === 'EADDRINUSE')
    return new StartupError(
      'FLASHFARM_PORT',
      `port ${where.port} on ${where.host} is already in use (another flashfarm api?). Stop the program that holds it, or set FLASHFARM_PORT to a free port.`,
    );
  if (code === 'EACCES')
    return new StartupError(
      'FLASHFARM_PORT',
      `port ${where.port} needs privileges this process does not have. Set FLASHFARM_PORT to a port above 1023 (8080, say).`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new StartupError(
      'FLASHFARM_HOST',
      `"${where.host}" is not an address of this machine. Set FLASHFARM_HOST to 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of this host's addresses.`,
    );
  return error;
}

/**
 * Checks that host:port can be listened on, before anything slow starts
 * (Redis, database, migrations); rejects with the StartupError listen() would
 * cause. Port 0 always can.
 */
export function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error) => reject(listenFailure(error, { host, port })));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
