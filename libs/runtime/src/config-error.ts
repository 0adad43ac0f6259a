import type { z } from 'zod';

/** Thrown when environment variables do not form a valid configuration. The message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: Array<{ variable: string; message: string }>,
    readonly app: string,
  ) {
    super(
      `Invalid ${app} configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n')}\n` +
        'Fix the variables above (see the configuration table in README.md) and start again.',
    );
  }
}

/** Parses `env` with a zod object whose keys are environment variable names; throws ConfigError naming each bad one. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, app: string): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: issue.path.map(String).join('.') || '(environment)',
      message: issue.message,
    })),
    app,
  );
}
