import { Global, Module } from '@nestjs/common';
import { FarmEventsController, FarmEventsService } from './farm-events.js';
import { LiveEvents } from './live-events.js';
import { SseStreams } from './sse-streams.js';
import { StreamCredentials } from './stream-credentials.js';

/**
 * The replicas' fan-out channel, the registry of open SSE streams (ended when their token is revoked or
 * expires) and the farm events (global: runs, jobs, the
 * scheduler and the console relay all use them). The bottom of the api's run pipeline: events
 * imports no other feature folder (see docs/ARCHITECTURE.md, "Folders of the api").
 */
@Global()
@Module({
  controllers: [FarmEventsController],
  providers: [LiveEvents, SseStreams, StreamCredentials, FarmEventsService],
  exports: [LiveEvents, SseStreams, FarmEventsService],
})
export class EventsModule {}
