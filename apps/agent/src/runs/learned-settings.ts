/**
 * What the agent learned about its links: the highest baud that worked per
 * port and per bridge type, and the reset strategy that reached the loader.
 * Kept in the data directory so a restart starts where the last run ended.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Learned facts about one port. */
export interface PortLearning {
  bestBaud?: number;
  resetStrategy?: string;
  /** Bridge type of the port when it was learned. */
  bridge?: string;
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

  /** Records a successful run: the baud it ended at and the reset strategy that worked. */
  recordSuccess(
    port: string,
    bridge: string | undefined,
    learned: { baud: number; resetStrategy?: string },
  ): void {
    const now = new Date().toISOString();
    const previous = this.data.ports[port];
    this.data.ports[port] = {
      bestBaud: learned.baud,
      resetStrategy: learned.resetStrategy ?? previous?.resetStrategy,
      bridge: bridge ?? previous?.bridge,
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
