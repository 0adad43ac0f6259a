/**
 * Farm benchmark: one agent (a real child process) flashes 8, 16, 32 and 64
 * simulated ESP32 boards at once, in real time (timeScale 1), over RFC 2217 —
 * the same path as ser2net or a remote hub. The boards run in `flashfarm sim`
 * child processes (as an operator would start them), so the CPU of each part
 * is measured on its own: the simulator, the agent, the api side (the agent
 * contract served by the test stand-in, no database, in this process) and
 * Redis. For each size it prints the aggregate throughput against N × the
 * single-board figure, the simulator's CPU per MiB flashed, the agent's CPU
 * per board, and which process was busiest.
 *
 *   npm run bench:farm                       (node --import ./scripts/register-ts.mjs bench/farm.ts)
 *   npm run bench:farm -- --sizes 8,16 --data-kib 256 --sim-processes 2
 *   npm run bench:farm -- --sim-node-args "--cpu-prof --cpu-prof-dir /tmp/prof"
 *   npm run bench:farm -- --sim-ref <commit>   (the simulator of an earlier commit, for before/after)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { AGENT_EVENT_FIELD, AGENT_EVENTS_STREAM, type AgentEvent, type RunResultPayload } from '#contracts';
import { ensureRedis } from '#runtime';
import { startContractApi } from '../test/e2e/support/contract-api.js';
import { buildFirmware, dispatchRun, runQueue, startAgent } from '../test/e2e/support/farm.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const SIZES = arg('sizes', '8,16,32,64')
  .split(',')
  .map((s) => parseInt(s, 10))
  .filter((n) => n > 0);
/** Incompressible payload per board on top of bootloader, partition table and app. */
const DATA_BYTES = parseInt(arg('data-kib', '128'), 10) * 1024;
/** How many `flashfarm sim` processes share the boards (round-robin). */
const SIM_PROCESSES = Math.max(1, parseInt(arg('sim-processes', '1'), 10));
/** Extra node options for the simulator processes (profiling). */
const SIM_NODE_ARGS = arg('sim-node-args', '').split(' ').filter(Boolean);
/** Run `flashfarm sim` from this git commit instead of the working tree (same method, older simulator). */
const SIM_REF = arg('sim-ref', '');
const ROUND_TIMEOUT_MS = 600_000;
const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux
const REPO_ROOT = path.resolve(import.meta.dirname, '..');
/** How long the idle farm is watched (measured, not a wait for something). */
const IDLE_SAMPLE_MS = 3_000;
/** A process counts as saturated when it used this share of one core over a round. */
const SATURATED_SHARE = 0.9;

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Busy and total CPU time of the whole machine (all cores, all processes), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are the idle columns (4th and 5th).
  return { busy: total - fields[3] - fields[4], total };
}

/** Resident and peak resident memory of a process in MiB, from /proc. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One `flashfarm sim` child process and the boards it listed. */
interface SimProcess {
  child: ChildProcess;
  boards: Array<{ url: string; name: string; mac: string }>;
}

/** A copy of the sources at `ref` (git archive) sharing this checkout's node_modules. */
function checkoutAt(ref: string, into: string): string {
  fs.mkdirSync(into, { recursive: true });
  const archive = path.join(into, '..', 'sim-ref.tar');
  execFileSync('git', ['-C', REPO_ROOT, 'archive', '--output', archive, ref]);
  execFileSync('tar', ['-xf', archive, '-C', into]);
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(into, 'node_modules'));
  return into;
}

/** Starts `flashfarm sim` on a JSON fleet file and waits for its board list. */
async function startSim(root: string, fleetFile: string, index: number): Promise<SimProcess> {
  const child = spawn(
    process.execPath,
    [...SIM_NODE_ARGS, 'bin/flashfarm.js', 'sim', '--fleet', fleetFile, '--json'],
    { cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const boards = await waitFor(
    () => {
      if (child.exitCode !== null)
        throw new Error(`flashfarm sim #${index} exited ${child.exitCode}: ${err}`);
      // One line {"boards": [...], "control": ...}; simulators before the control endpoint printed an indented array.
      if (out.trimStart().startsWith('{')) {
        const line = out.indexOf('\n');
        return line < 0
          ? undefined
          : (JSON.parse(out.slice(0, line)) as { boards: SimProcess['boards'] }).boards;
      }
      const end = out.indexOf('\n]');
      if (end < 0) return undefined;
      return JSON.parse(out.slice(0, end + 2)) as SimProcess['boards'];
    },
    `flashfarm sim #${index} to list its boards`,
    60_000,
  );
  return { child, boards };
}

/**
 * Follows the agent events stream from where it last read (XREAD), so that
 * polling 64 runs costs the api side what one reader costs, not 64 full scans.
 */
class ResultFollower {
  private readonly redis: Redis;
  private lastId = '0-0';
  private readonly results = new Map<string, { result: RunResultPayload; at: number }>();
  private readonly started = new Map<string, number>();

  constructor(redisUrl: string) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  }

  async poll(): Promise<void> {
    const reply = await this.redis.xread('COUNT', 10_000, 'STREAMS', AGENT_EVENTS_STREAM, this.lastId);
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        this.lastId = id;
        const event = JSON.parse(fields[fields.indexOf(AGENT_EVENT_FIELD) + 1]) as AgentEvent;
        if (event.type === 'run.finished')
          this.results.set(event.runId, { result: event.result, at: Date.parse(event.at) });
        if (event.type === 'run.started') this.started.set(event.runId, Date.parse(event.at));
      }
    }
  }

  get(runId: string): { result: RunResultPayload; at: number } | undefined {
    return this.results.get(runId);
  }

  /** When the agent said it started the run (its worker took it and the claim succeeded). */
  startedAt(runId: string): number | undefined {
    return this.started.get(runId);
  }

  /** process_id from INFO server: the redis-server to measure. */
  async serverPid(): Promise<number> {
    const info = await this.redis.info('server');
    return Number(/process_id:(\d+)/.exec(info)?.[1] ?? 0);
  }

  close(): void {
    this.redis.disconnect();
  }
}

async function main(): Promise<void> {
  const maxBoards = Math.max(...SIZES);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-bench-farm-'));
  const redis = await ensureRedis({ dataDir: work, persist: false });
  const api = await startContractApi({ heartbeatMs: 1_000 });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const simRoot = SIM_REF ? checkoutAt(SIM_REF, path.join(work, 'sim-ref')) : REPO_ROOT;
  out(
    `farm benchmark: ${maxBoards} simulated ESP32 boards in real time over RFC 2217 in ${SIM_PROCESSES} ` +
      `flashfarm sim process(es)${SIM_REF ? ` from ${SIM_REF}` : ''}, one agent, ${os.cpus().length} CPU(s), ` +
      `load average ${os.loadavg()[0].toFixed(2)}`,
  );
  // Board i lives in process i mod K, so every round's first N boards spread evenly.
  const fleets = Array.from({ length: SIM_PROCESSES }, () => [] as Array<{ chip: string; name: string }>);
  for (let i = 0; i < maxBoards; i++)
    fleets[i % SIM_PROCESSES].push({ chip: 'esp32', name: `bench-farm-${i + 1}` });
  const sims: SimProcess[] = [];
  const boards: Array<{ url: string; mac: string }> = [];
  const follower = new ResultFollower(redis.url);
  let agent: ReturnType<typeof startAgent> | undefined;
  try {
    for (const [index, fleet] of fleets.entries()) {
      if (fleet.length === 0) continue;
      const file = path.join(work, `fleet-${index}.json`);
      fs.writeFileSync(file, JSON.stringify({ basePort: 0, boards: fleet }));
      sims.push(await startSim(simRoot, file, index));
    }
    for (let i = 0; i < maxBoards; i++) {
      const listed = sims[i % sims.length].boards[Math.floor(i / sims.length)];
      boards.push({ url: listed.url, mac: listed.mac });
    }
    const simPids = sims.map((s) => s.child.pid!);
    const redisPid = await follower.serverPid();
    const simCpus = () => simPids.map((pid) => cpuSeconds(pid));

    agent = startAgent({
      api,
      redisUrl: redis.url,
      name: 'bench-agent',
      ports: boards.map((b) => b.url),
      dataDir: path.join(work, 'agent'),
      env: { FLASHFARM_AGENT_MAX_PARALLEL: String(maxBoards), FLASHFARM_LOG_FORMAT: 'json' },
    });
    const pid = agent.child.pid!;
    const agentId = await waitFor(
      () => api.agents.get('bench-agent')?.agentId,
      'the agent to register',
      60_000,
    );
    const probeStart = Date.now();
    await waitFor(
      () => (api.devices.size >= maxBoards ? true : undefined),
      `${maxBoards} boards to be probed`,
      180_000,
    );
    out(`probed ${maxBoards} boards in ${((Date.now() - probeStart) / 1000).toFixed(1)} s`);
    const queue = runQueue(redis.url, agentId);
    const idleMem = memoryMiB(pid);

    const round = async (n: number, version: string) => {
      const fw = buildFirmware(api, 'esp32', 'bench-farm', version, { dataBytes: DATA_BYTES });
      const imageBytes = fw.parts.reduce((s, p) => s + p.size, 0);
      await follower.poll();
      const agentCpu0 = cpuSeconds(pid);
      const simCpu0 = simCpus();
      const redisCpu0 = redisPid ? cpuSeconds(redisPid) : 0;
      const apiCpu0 = process.cpuUsage();
      const machine0 = machineTicks();
      const t0 = Date.now();
      const runs = await Promise.all(
        boards.slice(0, n).map((b) =>
          dispatchRun(queue, fw, {
            deviceId: api.devices.get(b.mac)!.deviceId,
            mac: b.mac,
            portPath: b.url,
          }),
        ),
      );
      const finished = await waitFor(
        async () => {
          await follower.poll();
          const rs = runs.map((r) => follower.get(r.runId));
          return rs.every(Boolean) ? rs.map((r) => r!) : undefined;
        },
        `${n} runs to finish`,
        ROUND_TIMEOUT_MS,
      );
      // The end is when the last run said it finished, not when this loop noticed.
      const wallS = (Math.max(...finished.map((f) => f.at)) - t0) / 1000;
      const agentCpuS = cpuSeconds(pid) - agentCpu0;
      const simPerProcess = simCpus().map((cpu, i) => cpu - simCpu0[i]);
      const simulatorCpuS = simPerProcess.reduce((a, b) => a + b, 0);
      const redisCpuS = redisPid ? cpuSeconds(redisPid) - redisCpu0 : 0;
      const apiUsage = process.cpuUsage(apiCpu0);
      const machine1 = machineTicks();
      // Share of all cores busy during the round, whoever used them: near 1 means the machine was full.
      const machineBusy = (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total);
      const apiCpuS = (apiUsage.user + apiUsage.system) / 1e6;
      const failed = finished.filter((f) => f.result.status !== 'succeeded').length;
      const flashS = finished.map((f) => (f.result.timings.flashMs ?? 0) / 1000);
      const flashedMiB = (n * imageBytes) / (1024 * 1024);
      // How late runs began after all were queued: when this, not the flashing, grows with N, the
      // limit is in taking runs off the queue (agent worker, claims), not in the links.
      const startDelays = runs
        .map((r) => ((follower.startedAt(r.runId) ?? t0) - t0) / 1000)
        .sort((a, b) => a - b);
      const shares = {
        // The busiest simulator process: one saturated process bounds its boards whatever the others do.
        simulator: Math.max(...simPerProcess) / wallS,
        agent: agentCpuS / wallS,
        api: apiCpuS / wallS,
        redis: redisCpuS / wallS,
      };
      const busiest = Object.entries(shares).sort((a, b) => b[1] - a[1])[0];
      return {
        boards: n,
        failed,
        imageBytes,
        wallS: +wallS.toFixed(2),
        throughputKiBs: +((n * imageBytes) / 1024 / wallS).toFixed(1),
        meanFlashS: +(flashS.reduce((a, b) => a + b, 0) / n).toFixed(2),
        // The slowest run and where its time went: a long tail (reset retries, baud fallbacks) shows here.
        slowest: (() => {
          const worst = finished.reduce((a, b) =>
            (a.result.timings.flashMs ?? 0) >= (b.result.timings.flashMs ?? 0) ? a : b,
          );
          return {
            flashS: +((worst.result.timings.flashMs ?? 0) / 1000).toFixed(2),
            timingsMs: worst.result.timings,
            retries: worst.result.retries,
            baud: worst.result.baud ?? null,
          };
        })(),
        runsRetried: finished.filter((f) => f.result.retries > 0).length,
        runsBelowRequestedBaud: finished.filter((f) => (f.result.baud ?? 921_600) < 921_600).length,
        startDelayS: {
          median: +startDelays[Math.floor(n / 2)].toFixed(2),
          max: +startDelays[n - 1].toFixed(2),
        },
        agentCpuS: +agentCpuS.toFixed(2),
        agentCpuMsPerBoard: Math.round((agentCpuS * 1000) / n),
        agentRssMiB: +memoryMiB(pid).rss.toFixed(1),
        simulatorCpuS: +simulatorCpuS.toFixed(2),
        simulatorCpuMsPerMiB: Math.round((simulatorCpuS * 1000) / flashedMiB),
        apiCpuS: +apiCpuS.toFixed(2),
        redisCpuS: +redisCpuS.toFixed(2),
        /** CPU used over the round's wall time, per process (1 = one core busy all the time). */
        coreShares: Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, +v.toFixed(2)])),
        saturated: busiest[1] >= SATURATED_SHARE ? busiest[0] : null,
        machineBusy: +machineBusy.toFixed(2),
      };
    };

    // Warm-up, not measured: every board gets an image once, so that idle boards run an app quietly
    // instead of boot-looping on blank flash (which streams console output to the agent the whole
    // time), every round writes over written flash (erase included), and both JITs are warm.
    const warm = await round(maxBoards, '0.0.0');
    out(`warm-up: ${maxBoards} boards flashed in ${warm.wallS} s (not counted), failed ${warm.failed}`);
    // What the farm costs while nothing is flashed (idle boards, open connections, heartbeats): part of
    // every round's figures, and most of the single-board round's.
    const idle0 = { sim: simCpus().reduce((a, b) => a + b, 0), agent: cpuSeconds(pid), at: Date.now() };
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const idleS = (Date.now() - idle0.at) / 1000;
    const idleCpu = {
      simulatorMsPerS: Math.round(((simCpus().reduce((a, b) => a + b, 0) - idle0.sim) * 1000) / idleS),
      agentMsPerS: Math.round(((cpuSeconds(pid) - idle0.agent) * 1000) / idleS),
    };
    out(
      `idle (nothing flashing, ${maxBoards} boards connected): simulator ${idleCpu.simulatorMsPerS} ms CPU/s, agent ${idleCpu.agentMsPerS} ms CPU/s`,
    );
    const single = await round(1, '0.0.1');
    out(
      `1 board: ${single.wallS} s, ${single.throughputKiBs} KiB/s (${single.imageBytes} bytes per board), ` +
        `agent CPU ${single.agentCpuMsPerBoard} ms, simulator CPU ${single.simulatorCpuMsPerMiB} ms/MiB`,
    );
    const rounds = [];
    for (const n of SIZES) {
      const r = await round(n, `0.${n}.0`);
      const ideal = single.throughputKiBs * n;
      const efficiency = +(r.throughputKiBs / ideal).toFixed(3);
      rounds.push({ ...r, idealKiBs: +ideal.toFixed(1), efficiency });
      const shares = Object.entries(r.coreShares)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      out(
        `${n} boards: ${r.wallS} s wall, ${r.throughputKiBs} KiB/s aggregate = ${(efficiency * 100).toFixed(0)} % of ${n} × single, ` +
          `mean flash ${r.meanFlashS} s, slowest ${r.slowest.flashS} s (${Object.entries(r.slowest.timingsMs)
            .map(([k, v]) => `${k} ${v}`)
            .join(
              ', ',
            )}), ${r.runsRetried} runs retried blocks, ${r.runsBelowRequestedBaud} below 921600 baud, ` +
          `runs started ${r.startDelayS.median} s (median) to ${r.startDelayS.max} s after queueing, failed ${r.failed}\n` +
          `  CPU: simulator ${r.simulatorCpuS} s (${r.simulatorCpuMsPerMiB} ms per MiB flashed), agent ${r.agentCpuS} s ` +
          `(${r.agentCpuMsPerBoard} ms/board, RSS ${r.agentRssMiB} MiB), api stand-in ${r.apiCpuS} s, redis ${r.redisCpuS} s\n` +
          `  cores busy over the round: ${shares}` +
          (r.saturated ? ` — saturated: ${r.saturated}` : ' — no process of the farm saturated') +
          `; the machine's ${os.cpus().length} cores were ${Math.round(r.machineBusy * 100)} % busy (all processes)`,
      );
    }
    const mem = memoryMiB(pid);
    out(`agent memory: idle ${idleMem.rss.toFixed(1)} MiB, peak ${mem.peak.toFixed(1)} MiB`);
    await queue.close();
    out(
      JSON.stringify({
        bench: 'farm',
        timeScale: 1,
        link: 'rfc2217',
        cpus: os.cpus().length,
        simProcesses: sims.length,
        simRef: SIM_REF || null,
        dataBytesPerBoard: DATA_BYTES,
        idleCpu,
        single,
        rounds,
        agentIdleRssMiB: +idleMem.rss.toFixed(1),
        agentPeakRssMiB: +mem.peak.toFixed(1),
        // The machine may be shared: a high load average means the wall-clock figures are pessimistic.
        loadAverage1m: +os.loadavg()[0].toFixed(2),
      }),
    );
  } finally {
    if (agent) {
      agent.child.kill('SIGTERM');
      await agent.waitForExit(30_000).catch(() => agent!.kill());
    }
    follower.close();
    await Promise.all(
      sims.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null) return resolve();
            s.child.once('exit', () => resolve());
            s.child.kill('SIGTERM');
          }),
      ),
    );
    await api.close();
    await redis.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:farm failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
