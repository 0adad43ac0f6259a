/**
 * Every open Server-Sent Events stream of this api process. An event stream
 * never ends on its own, and Node's HTTP server waits for open requests when
 * it closes: without ending them first, one dashboard left open would hold a
 * shutdown (SIGTERM, a rolling deploy) forever. Clients reconnect with
 * Last-Event-ID, to this replica's successor or another one, and lose nothing.
 */
import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiErrorCode } from '#contracts';
import type { AuthenticatedRequest } from '../auth/index.js';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';
import { SseStream } from './sse.js';

@Injectable()
export class SseStreams implements BeforeApplicationShutdown {
  private readonly logger = new Logger('sse');
  /** Each open stream and the id of the token that opened it (none on a public stream). */
  private readonly open = new Map<SseStream, string | undefined>();
  private closing = false;

  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  /** Starts an event stream on the response; it is ended when the client leaves or the api stops. */
  start(request: Request, response: Response): SseStream {
    const stream = new SseStream(request, response, this.config.events.sseHeartbeatMs);
    // A request that arrives while stopping still gets a valid, immediately ended stream.
    if (this.closing) {
      stream.close();
      return stream;
    }
    // The guard checked the token once, at the start; the token is kept so a later revocation or
    // expiry can end the stream (StreamCredentials), which would otherwise flow on unchecked.
    this.open.set(stream, (request as Request & AuthenticatedRequest).principal?.tokenId);
    stream.onClose(() => this.open.delete(stream));
    return stream;
  }

  /** The ids of the tokens that opened the streams open now. */
  tokenIds(): Set<string> {
    const ids = new Set<string>();
    for (const tokenId of this.open.values()) if (tokenId) ids.add(tokenId);
    return ids;
  }

  /**
   * Ends every stream opened with one of these tokens, after a last `unauthorized` event saying why
   * (an EventSource reconnects on its own and then gets 401). Returns how many were ended.
   */
  closeForTokens(tokenIds: ReadonlySet<string>, reason: string): number {
    let ended = 0;
    for (const [stream, tokenId] of [...this.open]) {
      if (!tokenId || !tokenIds.has(tokenId)) continue;
      stream.send('unauthorized', { code: ApiErrorCode.UNAUTHORIZED, message: reason });
      stream.close();
      ended++;
    }
    return ended;
  }

  /** How many streams are open (the flashfarm_sse_streams_open metric). */
  get size(): number {
    return this.open.size;
  }

  /** Runs before the HTTP server closes, so its close does not wait on streams that never end. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    if (this.open.size) this.logger.log(`ending ${this.open.size} open event stream(s) for shutdown`);
    for (const stream of [...this.open.keys()]) stream.close();
  }
}
