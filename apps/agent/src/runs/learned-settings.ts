/**
 * What the agent learned about its links: the highest baud that worked per
 * port and per bridge type, and the reset strategy that reached the loader.
 * Kept in the data directory so a restart starts where the last run ended.
 *
 * A fallback lowers a port's best baud; clean runs raise it again: after
 * BAUD_CLIMB_AFTER_CLEAN_RUNS runs in a row that needed no fallback at the
 * learned baud, the next run starts one rung higher on the flasher's baud
 * ladder (never above what the job asks or the bridge allows). A short burst
 * of noise used to slow a port down for good.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RETRY_BUDGETS } from '#contracts';

/** Clean runs in a row at a port's learned baud before a run tries the next higher rung again. */
export const BAUD_CLIMB_AFTER_CLEAN_RUNS = 3;

/** The flasher's bauds, fastest first (it steps down these on line errors; climbing steps back up them). */
const BAUD_LADDER: readonly number[] = RETRY_BUDGETS.flasher.baudLadder;

/** The baud a run starts at, and the learned baud it climbs from when it tries a higher rung. */
export interface StartBaud {
  baud: number;
  climbedFrom?: number;
}

/** Learned facts about one port. */
export interface PortLearning {
  bestBaud?: number;
  resetStrategy?: string;
  /** Bridge type of the port when it was learned. */
  bridge?: string;
  /** Runs in a row that finished at `cleanAt` without a baud fallback. */
  cleanRuns?: number;
  cleanAt?: number;
  updatedAt: string;
}

interface LearnedFile {
  ports: Record<string, PortLearning>;
  bridges: Record<string, { bestBaud: number; updatedAt: string }>;
}

/** The learned-settings file (`<dataDir>/learned.json`). */
export class LearnedSettings {
  private data: LearnedFile;

  constructor(private readonly file: string) {
    this.data = LearnedSettings.read(file);
  }

  /** The learned-settings file of a data directory. */
  static inDataDir(dataDir: string): LearnedSettings {
    return new LearnedSettings(path.join(dataDir, 'learned.json'));
  }

  private static read(file: string): LearnedFile {
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LearnedFile>;
      return { ports: parsed.ports ?? {}, bridges: parsed.bridges ?? {} };
    } catch {
      // Missing or unreadable: start learning again rather than refuse to run.
      return { ports: {}, bridges: {} };
    }
  }

  /** What is known about a port. */
  port(port: string): PortLearning | undefined {
    return this.data.ports[port];
  }

  /** The best baud for a port, else the bridge type's, else undefined. */
  bestBaud(port: string, bridge?: string): number | undefined {
    return this.data.ports[port]?.bestBaud ?? (bridge ? this.data.bridges[bridge]?.bestBaud : undefined);
  }

  /**
   * The baud a run starts at: what the job asks (`requested`, already capped by the bridge) unless
   * the port, its bridge type or the device (`deviceBest`, learned wherever the board was) knows
   * less works; then that, or the next rung up once the port has had enough clean runs at it.
   * Choosing to climb restarts the count, so a climb that fails outright is not tried again until
   * another BAUD_CLIMB_AFTER_CLEAN_RUNS clean runs.
   */
  startBaud(
    port: string,
    bridge: string | undefined,
    options: { requested: number; deviceBest?: number | null },
  ): StartBaud {
    const known = Math.min(options.deviceBest ?? Infinity, this.bestBaud(port, bridge) ?? Infinity);
    if (known >= options.requested) return { baud: options.requested };
    const learning = this.data.ports[port];
    if (learning?.cleanAt === known && (learning.cleanRuns ?? 0) >= BAUD_CLIMB_AFTER_CLEAN_RUNS) {
      const higher = BAUD_LADDER.filter((rung) => rung > known);
      if (higher.length) {
        learning.cleanRuns = 0;
        learning.updatedAt = new Date().toISOString();
        this.save();
        return { baud: Math.min(higher[higher.length - 1], options.requested), climbedFrom: known };
      }
    }
    return { baud: known };
  }

  /**
   * Records a successful run: the baud it ended at, whether it had to fall back to get there, and
   * the reset strategy that worked. A fallback sets the port's best baud and restarts the clean
   * count; a clean run counts towards a climb, and never lowers the best (a job may ask for less).
   */
  recordSuccess(
    port: string,
    bridge: string | undefined,
    learned: { baud: number; resetStrategy?: string; fellBack?: boolean },
  ): void {
    const now = new Date().toISOString();
    const previous = this.data.ports[port];
    const clean = !learned.fellBack;
    this.data.ports[port] = {
      bestBaud: clean ? Math.max(previous?.bestBaud ?? 0, learned.baud) : learned.baud,
      resetStrategy: learned.resetStrategy ?? previous?.resetStrategy,
      bridge: bridge ?? previous?.bridge,
      cleanRuns: clean && previous?.cleanAt === learned.baud ? (previous.cleanRuns ?? 0) + 1 : clean ? 1 : 0,
      cleanAt: learned.baud,
      updatedAt: now,
    };
    if (bridge) {
      // A bridge type is as fast as its best port: one noisy cable must not slow down every board.
      const best = Math.max(
        ...Object.values(this.data.ports)
          .filter((l) => l.bridge === bridge)
          .map((l) => l.bestBaud ?? 0),
      );
      this.data.bridges[bridge] = { bestBaud: best, updatedAt: now };
    }
    this.save();
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`);
    fs.renameSync(tmp, this.file);
  }
}
