/**
 * `monitor`: the board's serial console after a reset into its firmware,
 * ESP-IDF monitor style — bytes from the board to stdout as text, keys from
 * stdin to the board, Ctrl-] to leave. It prints what arrives and nothing
 * else: no backtrace decoding or address lookup, which would need the ELF
 * file and a toolchain.
 */
import { EspError, hardReset, runResetSequence, toEspError, type Transport } from '#esp';
import { usageError } from './args.js';
import type { ByteInput, EsptoolContext } from './context.js';
import { candidatePorts } from './ports.js';

/** Ctrl-]: the byte that ends the monitor (it is not sent to the board). */
export const MONITOR_EXIT_BYTE = 0x1d;
/** How long one read waits before checking whether the monitor was asked to stop. */
const READ_WAIT_MS = 1000;

async function choosePort(ctx: EsptoolContext): Promise<string> {
  if (ctx.globals.port) return ctx.globals.port;
  const [first] = candidatePorts((await ctx.deps.listPorts?.()) ?? [], ctx.globals.portFilter);
  if (!first) throw usageError('monitor needs a port: give one with -p (e.g. -p /dev/ttyUSB0 monitor).');
  return first;
}

/** Watches stdin: forwards keys to the board, resolves `exit` on Ctrl-]. */
function keyboard(input: ByteInput, transport: Transport): { exit: Promise<void>; stop: () => void } {
  let done: () => void = () => undefined;
  const exit = new Promise<void>((resolve) => (done = resolve));
  const wasRaw = input.isTTY && input.setRawMode ? true : false;
  if (wasRaw) input.setRawMode!(true);
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    const end = bytes.indexOf(MONITOR_EXIT_BYTE);
    const send = end >= 0 ? bytes.subarray(0, end) : bytes;
    if (send.length) transport.write(send).catch(() => undefined);
    if (end >= 0) done();
  };
  input.on('data', onData);
  input.resume?.();
  return {
    exit,
    stop: () => {
      input.off('data', onData);
      input.pause?.();
      if (wasRaw) input.setRawMode!(false);
    },
  };
}

/** monitor: reset into the firmware (unless --before no-reset) and show the console until Ctrl-]. */
export async function monitorCommand(ctx: EsptoolContext): Promise<number> {
  if (ctx.positionals.length)
    throw usageError(`monitor takes no arguments (got "${ctx.positionals.join(' ')}").`);
  const port = await choosePort(ctx);
  const baud = ctx.globals.baud ?? 115_200;
  const transport = await ctx.deps.openTransport(port, { baudRate: baud });
  const input = ctx.deps.stdin ?? process.stdin;
  const keys = keyboard(input, transport);
  const aborted = new Promise<void>((resolve) => {
    if (ctx.deps.signal?.aborted) resolve();
    ctx.deps.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const stop = Promise.race([keys.exit, aborted]).then(() => 'stop' as const);
  const decoder = new TextDecoder('utf-8');
  try {
    if (ctx.globals.before !== 'no-reset' && ctx.globals.before !== 'no-reset-no-sync') {
      // EN pulsed with IO0 high: the chip restarts into its firmware, whose boot log we want from the start.
      await runResetSequence(transport, hardReset().steps, ctx.deps.signal);
    }
    ctx.err.write(`--- flashfarm monitor on ${port} ${baud} ---\n--- Quit: Ctrl+] ---\n`);
    for (;;) {
      const next = await Promise.race([transport.read(READ_WAIT_MS).then((b) => ({ bytes: b })), stop]).catch(
        (err: unknown) => ({ error: toEspError(err) }),
      );
      if (next === 'stop') break;
      if ('error' in next) {
        if (next.error.code === 'TIMEOUT') continue;
        throw new EspError(`The console on ${port} ended: ${next.error.message}`, {
          code: next.error.code,
          stage: 'run',
        });
      }
      ctx.out.write(decoder.decode(next.bytes, { stream: true }));
    }
    ctx.out.write(decoder.decode());
    ctx.err.write('\n--- exit ---\n');
    return ctx.deps.signal?.aborted ? 130 : 0;
  } finally {
    keys.stop();
    await transport.close().catch(() => undefined);
  }
}
