/**
 * LISTEN on a PostgreSQL server: one dedicated connection (a pooled one
 * cannot hold a LISTEN), reopened with back-off when it drops. Notifications
 * sent while it was down are lost, so the caller is told of every gap and
 * reloads what it derives from them.
 */
import pg from 'pg';

const CONNECT_TIMEOUT_MS = 5_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

/** What a listener is told: each payload, and each reconnection after a lost connection. */
export interface NotificationHandlers {
  onMessage(payload: string): void;
  /** The connection was lost and is back: notifications in between are gone. */
  onGap(): void;
}

/** Listens on `channel` until the returned function is called. */
export async function listenOnPostgres(
  url: string,
  channel: string,
  handlers: NotificationHandlers,
): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retryMs = FIRST_RETRY_MS;
  let timer: NodeJS.Timeout | undefined;

  const open = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    next.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) handlers.onMessage(n.payload);
    });
    // Errors come with 'end' too; the reconnect is scheduled there, once.
    next.on('error', () => undefined);
    next.on('end', () => {
      if (client !== next || stopped) return;
      client = undefined;
      schedule();
    });
    await next.connect();
    // The channel name is ours (a constant), quoted as an identifier all the same.
    await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (stopped) return void (await next.end().catch(() => undefined));
    client = next;
  };
  const schedule = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      open()
        .then(() => {
          retryMs = FIRST_RETRY_MS;
          handlers.onGap();
        })
        .catch(() => {
          retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
          if (!stopped) schedule();
        });
    }, retryMs);
    timer.unref();
  };

  await open();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    const last = client;
    client = undefined;
    await last?.end().catch(() => undefined);
  };
}
