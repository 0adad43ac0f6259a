import { Global, Module } from '@nestjs/common';
import { LiveEvents } from './live-events.js';
import { LiveStreamsService } from './live-streams.service.js';
import { SseStreams } from './sse-streams.js';

/** The replicas' fan-out channel and the SSE streams built on it (global: runs, jobs and the scheduler all publish). */
@Global()
@Module({
  providers: [LiveEvents, LiveStreamsService, SseStreams],
  exports: [LiveEvents, LiveStreamsService, SseStreams],
})
export class EventsModule {}
