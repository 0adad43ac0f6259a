/**
 * Farm benchmark: one agent (a real child process) flashes 8, 16 and 32
 * simulated ESP32 boards at once, in real time (timeScale 1), over RFC 2217 —
 * the same path as ser2net or a remote hub. For each size it prints the
 * aggregate throughput against N × the single-board figure, the agent's CPU
 * time per board and its memory. The api side is the agent contract served by
 * the test stand-in (no database), Redis is a local redis-server.
 *
 *   npm run bench:farm                       (node --import ./scripts/register-ts.mjs bench/farm.ts)
 *   npm run bench:farm -- --sizes 8,16 --data-kib 256
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRedis } from '#runtime';
import { startContractApi } from '../test/e2e/support/contract-api.js';
import {
  buildFirmware,
  dispatchRun,
  EventReader,
  runQueue,
  startAgent,
  startBoard,
  type FarmBoard,
} from '../test/e2e/support/farm.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const SIZES = arg('sizes', '8,16,32')
  .split(',')
  .map((s) => parseInt(s, 10))
  .filter((n) => n > 0);
/** Incompressible payload per board on top of bootloader, partition table and app. */
const DATA_BYTES = parseInt(arg('data-kib', '128'), 10) * 1024;
const ROUND_TIMEOUT_MS = 600_000;
const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
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

async function main(): Promise<void> {
  const maxBoards = Math.max(...SIZES);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-bench-farm-'));
  const redis = await ensureRedis({ dataDir: work, persist: false });
  const api = await startContractApi({ heartbeatMs: 1_000 });
  const boards: FarmBoard[] = [];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `farm benchmark: ${maxBoards} simulated ESP32 boards in real time over RFC 2217, one agent, ${os.cpus().length} CPU(s)`,
  );
  for (let i = 0; i < maxBoards; i++)
    boards.push(await startBoard({ chip: 'esp32', name: `bench-farm-${i + 1}`, timeScale: 1 }));
  const agent = startAgent({
    api,
    redisUrl: redis.url,
    name: 'bench-agent',
    ports: boards.map((b) => b.url),
    dataDir: path.join(work, 'agent'),
    env: { FLASHFARM_AGENT_MAX_PARALLEL: String(maxBoards), FLASHFARM_LOG_FORMAT: 'json' },
  });
  const events = new EventReader(redis.url);
  const pid = agent.child.pid!;
  try {
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
      const cpu0 = cpuSeconds(pid);
      const simCpu0 = process.cpuUsage();
      const t0 = Date.now();
      const runs = await Promise.all(
        boards.slice(0, n).map((b) =>
          dispatchRun(queue, fw, {
            deviceId: api.devices.get(b.board.mac)!.deviceId,
            mac: b.board.mac,
            portPath: b.url,
          }),
        ),
      );
      const results = await waitFor(
        async () => {
          const rs = await Promise.all(runs.map((r) => events.result(r.runId)));
          return rs.every(Boolean) ? rs : undefined;
        },
        `${n} runs to finish`,
        ROUND_TIMEOUT_MS,
      );
      // The end is when the last run said it finished, not when this loop noticed.
      const finishedAt = await Promise.all(
        runs.map(async (r) => {
          const ev = (await events.forRun(r.runId)).find((e) => e.type === 'run.finished');
          return ev && 'at' in ev ? Date.parse(ev.at) : Date.now();
        }),
      );
      const wallS = (Math.max(...finishedAt) - t0) / 1000;
      const cpuS = cpuSeconds(pid) - cpu0;
      const simCpu = process.cpuUsage(simCpu0);
      // The boards, their RFC 2217 servers and Redis reads live in this process: their CPU is the other half of the story.
      const simulatorCpuS = (simCpu.user + simCpu.system) / 1e6;
      const failed = results.filter((r) => r!.status !== 'succeeded').length;
      const flashS = results.map((r) => (r!.timings.flashMs ?? 0) / 1000);
      return {
        boards: n,
        failed,
        imageBytes,
        wallS: +wallS.toFixed(2),
        throughputKiBs: +((n * imageBytes) / 1024 / wallS).toFixed(1),
        meanFlashS: +(flashS.reduce((a, b) => a + b, 0) / n).toFixed(2),
        agentCpuMsPerBoard: Math.round((cpuS * 1000) / n),
        agentRssMiB: +memoryMiB(pid).rss.toFixed(1),
        simulatorCpuS: +simulatorCpuS.toFixed(2),
      };
    };

    const single = await round(1, '0.0.1');
    out(
      `1 board: ${single.wallS} s, ${single.throughputKiBs} KiB/s (${single.imageBytes} bytes per board), agent CPU ${single.agentCpuMsPerBoard} ms`,
    );
    const rounds = [];
    for (const n of SIZES) {
      const r = await round(n, `0.${n}.0`);
      const ideal = single.throughputKiBs * n;
      const efficiency = +(r.throughputKiBs / ideal).toFixed(3);
      rounds.push({ ...r, idealKiBs: +ideal.toFixed(1), efficiency });
      out(
        `${n} boards: ${r.wallS} s wall, ${r.throughputKiBs} KiB/s aggregate = ${(efficiency * 100).toFixed(0)} % of ${n} × single, ` +
          `mean flash ${r.meanFlashS} s, agent CPU ${r.agentCpuMsPerBoard} ms/board, RSS ${r.agentRssMiB} MiB, ` +
          `simulator CPU ${r.simulatorCpuS} s, failed ${r.failed}`,
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
        dataBytesPerBoard: DATA_BYTES,
        single,
        rounds,
        agentIdleRssMiB: +idleMem.rss.toFixed(1),
        agentPeakRssMiB: +mem.peak.toFixed(1),
        // The machine may be shared: a high load average means the wall-clock figures are pessimistic.
        loadAverage1m: +os.loadavg()[0].toFixed(2),
      }),
    );
  } finally {
    agent.child.kill('SIGTERM');
    await agent.waitForExit(30_000).catch(() => agent.kill());
    events.close();
    for (const b of boards) {
      await b.server?.close();
      b.board.dispose();
    }
    await api.close();
    await redis.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:farm failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
