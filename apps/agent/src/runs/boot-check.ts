/**
 * Post-flash boot check: reset the board into its app at the app's baud and
 * read its console until the expected pattern shows up or time runs out.
 */
import { hardResetFor, resetStrategyFromName, runResetSequence, type Transport } from '#esp';

/** Baud of the boot log when the job does not say: the ESP8266 ROM prints at 74 880, the ESP32 family at 115 200. */
export function defaultConsoleBaud(chip: string): number {
  return chip === 'esp8266' ? 74_880 : 115_200;
}

/** Longest console excerpt kept for the log when the pattern never came. */
const BOOT_TEXT_TAIL_CHARS = 2_000;

/** Most console text a match reads (the newest): a boot banner is a few KiB. */
const MAX_BOOT_TEXT_CHARS = 1024 * 1024;

/** Outcome of a boot check. */
export interface BootCheckResult {
  matched: boolean;
  text: string;
  elapsedMs: number;
}

/** Resets into the app and waits for `pattern` on the console. The transport stays open. */
export async function runBootCheck(
  transport: Transport,
  options: {
    /** The job's pattern, matched off the main loop (boot-pattern-matcher.ts). */
    matcher: { test(text: string): Promise<boolean> };
    timeoutMs: number;
    baud: number;
    resetStrategy: string | undefined;
    signal?: AbortSignal;
    onText?: (text: string) => void;
  },
): Promise<BootCheckResult> {
  const started = Date.now();
  if (transport.baudRate !== options.baud) await transport.setBaudRate(options.baud);
  await transport.flushInput();
  const strategy = options.resetStrategy ? resetStrategyFromName(options.resetStrategy) : undefined;
  await runResetSequence(transport, hardResetFor(strategy).steps, options.signal);
  const decoder = new TextDecoder('latin1');
  let text = '';
  const deadline = started + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) break;
    let chunk: Uint8Array;
    try {
      chunk = await transport.read(Math.min(left, 250), 4096);
    } catch (err) {
      if ((err as { code?: string }).code === 'TIMEOUT') continue;
      throw err;
    }
    const piece = decoder.decode(chunk, { stream: true });
    text += piece;
    // A board that floods its console cannot grow what each match reads without bound.
    if (text.length > MAX_BOOT_TEXT_CHARS) text = text.slice(-MAX_BOOT_TEXT_CHARS);
    options.onText?.(piece);
    if (await options.matcher.test(text)) return { matched: true, text, elapsedMs: Date.now() - started };
  }
  return { matched: false, text: text.slice(-BOOT_TEXT_TAIL_CHARS), elapsedMs: Date.now() - started };
}
