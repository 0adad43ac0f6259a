import { Global, Module } from '@nestjs/common';
import { LiveEvents } from './live-events.js';
import { SseStreams } from './sse-streams.js';

/**
 * The replicas' fan-out channel and the registry of open SSE streams (global: runs, jobs, the
 * scheduler and the console relay all use them). The bottom of the api's run pipeline: events
 * imports no other feature folder (see docs/ARCHITECTURE.md, "Folders of the api").
 */
@Global()
@Module({
  providers: [LiveEvents, SseStreams],
  exports: [LiveEvents, SseStreams],
})
export class EventsModule {}
