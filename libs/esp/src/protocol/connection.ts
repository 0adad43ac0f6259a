/**
 * One conversation with a loader (ROM or stub) over a Transport: SLIP frames
 * out, replies matched by opcode back, status bytes turned into typed errors.
 */
import { EspError, type EspStage, RomError, StubError } from '../errors.js';
import type { Transport } from '../transport.js';
import {
  encodeRequest,
  isUnsupportedReply,
  opName,
  parseReply,
  parseStatus,
  type Reply,
  SYNC_BODY,
  Op,
} from './commands.js';
import { slipEncode, SlipDecoder } from './slip.js';
import { DEFAULT_TIMEOUT_MS, withLatency } from './timeouts.js';

/** Frames read while waiting for one reply before giving up (stale SYNC replies, noise). */
export const MAX_FRAMES_PER_REPLY = 100;
/**
 * After a corrupt frame, how long a valid reply may still take. A loader sends
 * one reply per command, so a garbled frame most likely was that reply: fail
 * fast with FRAMING instead of waiting out a long per-MB timeout.
 */
export const CORRUPT_REPLY_GRACE_MS = 100;

/** What a command returns. */
export interface CommandResult {
  value: number;
  /** The payload before the status bytes. */
  payload: Uint8Array;
}

/** Options of one command. */
export interface CommandOptions {
  /** Checksum field (data commands). */
  checksum?: number;
  /** Timeout before the link latency and line time are added. */
  timeoutMs?: number;
  /** Payload bytes expected before the status (§10.3 rule). */
  expectPayload?: number;
  stage?: EspStage;
}

/** True for a transport error carrying the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Frame-level I/O and command/reply matching. */
export class Connection {
  /** True once the flasher stub answers instead of the ROM (2-byte status, stub error table). */
  isStub = false;
  /** Frames dropped as corrupt or unparsable since creation (line-quality figure). */
  corruptFrames = 0;
  /** Bytes received since creation, frames and text alike. */
  bytesReceived = 0;
  private readonly decoder = new SlipDecoder();
  private readonly frames: Uint8Array[] = [];
  private text = '';
  private corruptSinceMark = 0;

  constructor(
    readonly transport: Transport,
    private readonly opts: { signal?: AbortSignal; onText?: (text: string) => void } = {},
  ) {}

  /** Text seen outside frames since the last takeText() (boot banners, app output). */
  takeText(): string {
    const t = this.text;
    this.text = '';
    return t;
  }

  /** Drops everything received so far, in the transport and in the decoder. */
  async flushInput(): Promise<void> {
    await this.transport.flushInput();
    this.decoder.reset();
    this.frames.length = 0;
  }

  /** Throws CANCELLED when the caller aborted. */
  checkAborted(stage?: EspStage): void {
    if (this.opts.signal?.aborted) {
      throw new EspError('The flash was cancelled.', { code: 'CANCELLED', stage });
    }
  }

  /** Sends one packet in a SLIP frame. */
  async writePacket(packet: Uint8Array): Promise<void> {
    try {
      await this.transport.write(slipEncode(packet));
    } catch (err) {
      if (err instanceof EspError) throw err;
      throw new EspError(
        `The serial link failed: ${(err as Error).message}. Check the cable and the board's power.`,
        {
          code: hasCode(err, 'TIMEOUT') ? 'TIMEOUT' : 'DEVICE_GONE',
          command: packet[1],
          cause: err,
        },
      );
    }
  }

  /** Reads the next decoded frame, or throws TIMEOUT (FRAMING when only corrupt frames came). */
  async readFrame(timeoutMs: number, stage?: EspStage, command?: number): Promise<Uint8Array> {
    let deadline = Date.now() + timeoutMs;
    const seenCorrupt = this.corruptSinceMark;
    for (;;) {
      if (this.corruptSinceMark > seenCorrupt) {
        deadline = Math.min(deadline, Date.now() + CORRUPT_REPLY_GRACE_MS + 2 * this.transport.latencyMs);
      }
      const next = this.frames.shift();
      if (next) return next;
      this.checkAborted(stage);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.timeoutError(timeoutMs, stage, command);
      let bytes: Uint8Array;
      try {
        bytes = await this.transport.read(remaining);
      } catch (err) {
        if (hasCode(err, 'TIMEOUT')) throw this.timeoutError(timeoutMs, stage, command);
        if (err instanceof EspError) throw err;
        throw new EspError(
          `The serial link failed: ${(err as Error).message}. Check the cable and the board's power.`,
          {
            // Any read failure other than a timeout means the port is unusable (unplugged, closed, TCP reset).
            code: 'DEVICE_GONE',
            stage,
            command,
            cause: err,
          },
        );
      }
      this.pushBytes(bytes);
    }
  }

  /** Sends a request and waits for the reply with the same opcode. */
  async command(op: number, data?: Uint8Array, options: CommandOptions = {}): Promise<CommandResult> {
    this.checkAborted(options.stage);
    const packet = encodeRequest(op, data, options.checksum ?? 0);
    const timeoutMs = withLatency(
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      this.transport,
      packet.length + 64,
    );
    this.corruptSinceMark = 0;
    await this.writePacket(packet);
    const reply = await this.readReply(op, timeoutMs, options.stage);
    return this.checkStatus(op, reply, options);
  }

  /** Waits for a reply to `op` (skipping stale frames); throws on an unsupported-command reply. */
  async readReply(op: number, timeoutMs: number, stage?: EspStage): Promise<Reply> {
    let deadline = Date.now() + timeoutMs;
    const seenCorrupt = this.corruptSinceMark;
    for (let i = 0; i < MAX_FRAMES_PER_REPLY; i++) {
      if (this.corruptSinceMark > seenCorrupt) {
        deadline = Math.min(deadline, Date.now() + CORRUPT_REPLY_GRACE_MS + 2 * this.transport.latencyMs);
      }
      const frame = await this.readFrame(Math.max(1, deadline - Date.now()), stage, op);
      const reply = parseReply(frame);
      if (!reply) {
        this.countCorrupt();
        continue;
      }
      if (reply.op === op) return reply;
      if (isUnsupportedReply(reply, op)) {
        throw new RomError(reply.data[0], reply.data[1], {
          stage,
          command: op,
          detail: { unsupported: true, replyOp: reply.op },
        });
      }
    }
    throw new EspError(
      `No reply to ${opName(op)} among ${MAX_FRAMES_PER_REPLY} frames: the line carries stale or foreign data.`,
      {
        code: 'FRAMING',
        stage,
        command: op,
      },
    );
  }

  /** Turns a reply's status into success or a typed error. */
  checkStatus(op: number, reply: Reply, options: CommandOptions = {}): CommandResult {
    const status = parseStatus(reply.data, options.expectPayload ?? 0);
    if (!status) {
      throw new EspError(`The reply to ${opName(op)} carries no status bytes.`, {
        code: 'FRAMING',
        stage: options.stage,
        command: op,
      });
    }
    if (this.isStub) {
      if (status.first !== 0)
        throw new StubError(status.first, status.second, { stage: options.stage, command: op });
    } else if (status.first !== 0) {
      throw new RomError(status.first, status.second, { stage: options.stage, command: op });
    }
    return { value: reply.value, payload: status.payload };
  }

  /**
   * One SYNC exchange: the first reply within `timeoutMs`, then the
   * follow-ups the loader sends (8 in all). Returns the reply values.
   */
  async sync(timeoutMs: number): Promise<number[]> {
    this.corruptSinceMark = 0;
    await this.writePacket(encodeRequest(Op.SYNC, SYNC_BODY));
    const first = await this.readReply(Op.SYNC, withLatency(timeoutMs, this.transport, 46 + 14), 'sync');
    const values = [first.value];
    // Follow-ups arrive back to back; a short wait collects them without stalling on loaders that send fewer.
    const followMs = withLatency(timeoutMs, this.transport, 7 * 14);
    for (let i = 0; i < 7; i++) {
      try {
        values.push((await this.readReply(Op.SYNC, followMs, 'sync')).value);
      } catch (err) {
        if (err instanceof EspError && (err.code === 'TIMEOUT' || err.code === 'FRAMING')) break;
        throw err;
      }
    }
    return values;
  }

  /** Feeds raw bytes to the decoder (also used by readers that bypass command()). */
  pushBytes(bytes: Uint8Array): void {
    this.bytesReceived += bytes.length;
    for (const ev of this.decoder.push(bytes)) {
      if (ev.kind === 'frame') this.frames.push(ev.data);
      else if (ev.kind === 'text') {
        const s = Buffer.from(ev.data).toString('latin1');
        this.text += s;
        if (this.text.length > 64 * 1024) this.text = this.text.slice(-32 * 1024);
        this.opts.onText?.(s);
      } else this.countCorrupt();
    }
  }

  private countCorrupt(): void {
    this.corruptFrames++;
    this.corruptSinceMark++;
  }

  private timeoutError(timeoutMs: number, stage?: EspStage, command?: number): EspError {
    const what = command === undefined ? 'data' : `the reply to ${opName(command)}`;
    if (this.corruptSinceMark > 0) {
      return new EspError(
        `Only corrupt frames arrived while waiting for ${what}: line noise at ${this.transport.baudRate} baud.`,
        {
          code: 'FRAMING',
          stage,
          command,
          detail: { corruptFrames: this.corruptSinceMark, timeoutMs },
        },
      );
    }
    return new EspError(`No ${what} within ${timeoutMs} ms.`, {
      code: 'TIMEOUT',
      stage,
      command,
      detail: { timeoutMs },
    });
  }
}
