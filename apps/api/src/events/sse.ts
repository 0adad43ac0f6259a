/** A Server-Sent Events response: framing, heartbeats, and clean-up when the client goes away. */
import type { Request, Response } from 'express';

/** Reconnection delay suggested to EventSource clients. */
const CLIENT_RETRY_MS = 2_000;

/** One open event stream. */
export class SseStream {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: Array<() => void> = [];

  constructor(
    request: Request,
    private readonly response: Response,
    heartbeatMs: number,
  ) {
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no'); // proxies must not hold events back
    response.flushHeaders();
    response.write(`retry: ${CLIENT_RETRY_MS}\n\n`);
    // Comments keep proxies and load balancers from closing an idle stream.
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), heartbeatMs);
    request.on('close', () => this.close());
  }

  /** True once the client left or the stream was ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one event; `id` becomes the client's Last-Event-ID. */
  send(event: string, data: unknown, id?: string): void {
    let frame = '';
    if (id !== undefined) frame += `id: ${id}\n`;
    frame += `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    this.write(frame);
  }

  /** Runs listener when the stream closes (client gone or ended). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Ends the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
    this.response.end();
  }

  private write(text: string): void {
    if (!this.closed) this.response.write(text);
  }
}

/** The client's resume point: the Last-Event-ID header, or `lastEventId` in the query for clients that cannot set headers. */
export function lastEventId(request: Request): string | undefined {
  const header = request.headers['last-event-id'];
  const value = Array.isArray(header) ? header[0] : header;
  const query = request.query.lastEventId;
  return value?.trim() || (typeof query === 'string' ? query.trim() : undefined) || undefined;
}
