/**
 * The agent's life: discover and probe boards, register with the api, report
 * devices, take runs from its BullMQ queue, heartbeat (obeying cancellations),
 * listen on its control channel, and on shutdown stop taking runs, let those
 * in flight finish within the grace period, then abort and hand them back.
 */
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import os from 'node:os';
import { agentControlChannel, agentRunQueueName, type AgentControlMessage } from '#contracts';
import { packageVersion, StartupError } from '#runtime';
import { AgentApiClient, ApiRequestError } from '../api/agent-api.client.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConsoleService } from '../console/console.service.js';
import { DeviceInventory } from '../devices/device-inventory.js';
import { FixtureLidWatch } from '../devices/fixture-lid-watch.js';
import { AgentEventsPublisher } from '../events/agent-events.publisher.js';
import { FirmwareCache } from '../firmware/firmware-cache.js';
import { PortRegistry } from '../ports/port-registry.js';
import { hostTransports } from '../ports/transport-factory.js';
import { createRunProcessors, dispatchJob, type RunningRun } from '../runs/flash-run.processor.js';
import { FlashRunService, RunAbort } from '../runs/flash-run.service.js';
import { LearnedSettings } from '../runs/learned-settings.js';
import { claimRun } from '../runs/run-claim.js';
import { tokenRefused } from './queue-connection.js';
import { AGENT_CONFIG, AGENT_REDIS } from '../tokens.js';
import { pause as waitFor } from './pause.js';

/** First pause between registration attempts while the api is unreachable; doubles up to the maximum. */
const REGISTER_RETRY_MIN_MS = 500;
const REGISTER_RETRY_MAX_MS = 10_000;
/** Cancelled run ids are remembered this long (they only matter while a redelivery could arrive). */
const CANCELLED_MEMORY = 10_000;

/** Everything the agent runs, started after Nest is up and stopped before Redis closes. */
@Injectable()
export class AgentRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('agent');
  readonly registry = new PortRegistry();
  readonly inventory: DeviceInventory;
  readonly learned: LearnedSettings;
  readonly publisher: AgentEventsPublisher;
  readonly console: ConsoleService;
  readonly lids: FixtureLidWatch;
  private readonly api: AgentApiClient;
  private readonly service: FlashRunService;
  private readonly running = new Map<string, RunningRun>();
  private readonly cancelled = new Set<string>();
  private agentId: string | undefined;
  private heartbeatMs: number;
  private worker: Worker | undefined;
  private workerConnection: Redis | undefined;
  private subscriber: Redis | undefined;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly stopped = new AbortController();
  private startup: Promise<void> | undefined;
  private giveUp: (reason: StartupError) => void = () => {};
  /** Settles when the agent cannot go on without an operator (the api refused its token); main exits with it. */
  readonly failed = new Promise<StartupError>((resolve) => (this.giveUp = resolve));

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    @Inject(AGENT_REDIS) private readonly redis: Redis,
  ) {
    this.heartbeatMs = config.heartbeatMs;
    this.api = new AgentApiClient(config.apiUrl, config.agentToken);
    this.learned = LearnedSettings.inDataDir(config.dataDir);
    this.publisher = new AgentEventsPublisher(redis);
    this.inventory = new DeviceInventory(config, this.registry, (level, text) => {
      if (level === 'debug') this.logger.debug(text);
      else if (level === 'warn') this.logger.warn(text);
      else this.logger.log(text);
    });
    this.console = new ConsoleService(this.inventory, this.registry, this.publisher, (t) =>
      this.logger.warn(t),
    );
    this.lids = new FixtureLidWatch(
      config.fixtureLids,
      this.inventory,
      this.registry,
      hostTransports,
      (level, text) => {
        if (level === 'debug') this.logger.debug(text);
        else if (level === 'warn') this.logger.warn(text);
        else this.logger.log(text);
      },
    );
    const cache = new FirmwareCache(config.cacheDir, (p, signal) => this.api.download(p, signal));
    this.service = new FlashRunService({
      config,
      inventory: this.inventory,
      registry: this.registry,
      cache,
      learned: this.learned,
      transportFor: hostTransports,
    });
    if (!config.agentToken)
      this.logger.warn('FLASHFARM_AGENT_TOKEN is not set: the api will refuse this agent');
  }

  /** The id the api gave this agent, once registered. */
  get id(): string | undefined {
    return this.agentId;
  }

  onApplicationBootstrap(): void {
    const ports = this.config.ports;
    this.logger.log(
      `ports: ${ports.static.length} static${ports.static.length ? ` (${ports.static.join(', ')})` : ''}, discovery ${ports.discovery ? `every ${ports.discoveryIntervalMs} ms` : 'off'}; up to ${this.config.maxParallel} runs at once`,
    );
    const discover = (): void => {
      void this.inventory
        .tick()
        .catch((err: unknown) => this.logger.warn(`discovery: ${(err as Error).message}`));
    };
    discover();
    this.lids.start();
    // Fixture slots polled for a new unit need ticks at least at their poll rate.
    const polling = [...this.config.fixtures.values()].includes('probe');
    this.discoveryTimer = setInterval(
      discover,
      polling ? Math.min(ports.discoveryIntervalMs, this.config.fixturePollMs) : ports.discoveryIntervalMs,
    );
    this.startup = this.registerAndStart().catch((err: unknown) => {
      // Only Redis refusing the control subscription gets here (the api is retried inside):
      // without it cancellations could be missed, so the agent takes no runs and says why.
      this.logger.error(`cannot start taking runs: ${(err as Error).message}`);
    });
  }

  private async registerAndStart(): Promise<void> {
    let pause = REGISTER_RETRY_MIN_MS;
    let warned = false;
    while (!this.stopping) {
      try {
        const answer = await this.api.register(
          {
            name: this.config.name,
            hostname: os.hostname(),
            version: packageVersion(),
            maxParallel: this.config.maxParallel,
          },
          this.stopped.signal,
        );
        this.agentId = answer.agentId;
        if (answer.heartbeatMs > 0) this.heartbeatMs = answer.heartbeatMs;
        break;
      } catch (err) {
        // A refused token stays refused: retrying would hide the problem from whoever started the agent.
        if (err instanceof ApiRequestError && (err.status === 401 || err.status === 403)) {
          this.giveUp(tokenRefused(err, this.config.apiUrl));
          return;
        }
        if (!warned || !(err instanceof ApiRequestError && err.transient)) {
          this.logger.warn(
            `registration with ${this.config.apiUrl} failed (${(err as Error).message}); retrying`,
          );
          warned = true;
        }
        await waitFor(pause, this.stopped.signal);
        pause = Math.min(REGISTER_RETRY_MAX_MS, pause * 2);
      }
    }
    const agentId = this.agentId;
    if (this.stopping || !agentId) return;
    this.logger.log(
      `registered as ${this.config.name} (agent ${agentId}); taking runs from ${agentRunQueueName(agentId)}`,
    );
    await this.subscribeControl(agentId);
    this.startHeartbeat(agentId);
    void this.inventory.setReporter((report) => this.api.reportDevices(agentId, report));
    this.startWorker(agentId);
  }

  private startWorker(agentId: string): void {
    const processors = createRunProcessors({
      agentId,
      service: this.service,
      publisher: this.publisher,
      running: this.running,
      isCancelled: (runId) => this.cancelled.has(runId),
      claim: (payload) => claimRun(this.api, agentId, payload),
      log: (level, text) => (level === 'warn' ? this.logger.warn(text) : this.logger.log(text)),
      logLine: (runId, level, text) => {
        if (level === 'error' || level === 'warn') this.logger.warn(`[${runId.slice(0, 8)}] ${text}`);
        else this.logger.debug(`[${runId.slice(0, 8)}] ${text}`);
      },
    });
    this.workerConnection = this.redis.duplicate({ maxRetriesPerRequest: null });
    this.workerConnection.on('error', () => {}); // reconnects by itself; the worker reports its own errors
    this.worker = new Worker(agentRunQueueName(agentId), (job) => dispatchJob(processors, job), {
      connection: this.workerConnection,
      concurrency: this.config.maxParallel,
      lockDuration: this.config.runLockMs,
      stalledInterval: Math.max(1_000, Math.floor(this.config.runLockMs / 2)),
      maxStalledCount: 2,
    });
    this.worker.on('error', (err) => this.logger.warn(`run queue: ${err.message}`));
  }

  private async subscribeControl(agentId: string): Promise<void> {
    const subscriber = this.redis.duplicate();
    subscriber.on('error', () => {}); // reconnects by itself; the heartbeat answer covers missed cancels
    this.subscriber = subscriber;
    subscriber.on('message', (_channel: string, text: string) => {
      let message: AgentControlMessage;
      try {
        message = JSON.parse(text) as AgentControlMessage;
      } catch {
        this.logger.warn(`ignoring a malformed control message: ${text.slice(0, 200)}`);
        return;
      }
      switch (message.type) {
        case 'cancel-run':
          this.cancel(message.runId, message.reason || 'cancelled');
          break;
        case 'console':
          if (!this.config.console) {
            this.logger.warn(`console requested for ${message.deviceId} but FLASHFARM_AGENT_CONSOLE is off`);
            break;
          }
          this.console.set(message.deviceId, message.enabled);
          break;
        case 'fixture-next':
          this.nextUnit(message.portPath);
          break;
      }
    });
    await subscriber.subscribe(agentControlChannel(agentId, subscriber));
  }

  /** An explicit "next unit" on one fixture slot or all of them. */
  private nextUnit(portPath: string | null): void {
    const slots = this.inventory
      .fixtureSlots()
      .filter((e) => portPath === null || e.path === portPath)
      .map((e) => e.path);
    if (slots.length === 0) {
      this.logger.warn(`"next unit" for ${portPath ?? 'every slot'}, but no such fixture slot here`);
      return;
    }
    for (const path of slots)
      void this.inventory
        .next(path)
        .then((outcome) => this.logger.log(`${path}: next unit: ${outcome}`))
        .catch((err: unknown) => this.logger.warn(`${path}: next unit: ${(err as Error).message}`));
  }

  private startHeartbeat(agentId: string): void {
    const beat = async (): Promise<void> => {
      try {
        const answer = await this.api.heartbeat(agentId, {
          status: this.stopping ? 'draining' : 'online',
          runningRunIds: [...this.running.keys()],
        });
        for (const id of answer.cancelRunIds ?? []) this.cancel(id, 'cancelled (heartbeat)');
        for (const id of answer.staleRunIds ?? [])
          this.cancel(id, 'the api ended the run meanwhile; a newer attempt owns its slot (heartbeat)');
      } catch (err) {
        this.logger.warn(`heartbeat failed: ${(err as Error).message}`);
      }
    };
    void beat();
    this.heartbeatTimer = setInterval(() => void beat(), this.heartbeatMs);
  }

  /** Aborts a run (if it runs here) and remembers it as cancelled. */
  cancel(runId: string, reason: string): void {
    this.cancelled.add(runId);
    if (this.cancelled.size > CANCELLED_MEMORY) this.cancelled.delete(this.cancelled.values().next().value!);
    const run = this.running.get(runId);
    if (run && !run.controller.signal.aborted) {
      this.logger.log(`cancelling run ${runId}: ${reason}`);
      run.controller.abort(new RunAbort('cancel', reason));
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    if (this.discoveryTimer) clearInterval(this.discoveryTimer);
    await this.startup;
    this.console.stopAll();
    await this.lids.close();
    const worker = this.worker;
    if (worker) {
      // Stop taking runs; those in flight get the grace period, then are aborted and handed back.
      const closing = worker.close();
      if (this.running.size > 0) {
        this.logger.log(
          `waiting up to ${this.config.shutdownGraceMs} ms for ${this.running.size} run(s) in flight`,
        );
        const timer = setTimeout(() => {
          for (const run of this.running.values()) {
            this.logger.warn(`aborting run ${run.runId} on ${run.portPath}: shutting down`);
            run.controller.abort(new RunAbort('shutdown', 'the agent is shutting down'));
          }
        }, this.config.shutdownGraceMs);
        await closing;
        clearTimeout(timer);
      } else {
        await closing;
      }
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.agentId) {
      await this.api
        .heartbeat(this.agentId, { status: 'draining', runningRunIds: [] })
        .catch(() => undefined);
    }
    if (this.subscriber) await this.subscriber.quit().catch(() => this.subscriber?.disconnect());
    if (this.workerConnection)
      await this.workerConnection.quit().catch(() => this.workerConnection?.disconnect());
  }
}
