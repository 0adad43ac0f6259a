// Records one client session against a simulated board, for replay fixtures:
//
//   node --import ./scripts/register-ts.mjs scripts/record-esptool-session.ts \
//     --chip esp32 --name replay-esp32 --mac 24:0a:c4:00:00:01 --out test/fixtures/esptool-….json \
//     --tool "esptool v5.3.1" --command "python -m esptool … write-flash -z 0x10000 app.bin"
//
// It starts one board behind an RFC 2217 server on a free port (local reset, as `flashfarm sim`
// runs it), prints the rfc2217:// URL, waits until the first client has come and gone, and
// writes what crossed the link: DTR/RTS/flow SET-CONTROL values, SET-BAUDRATE, and the SLIP
// frames each way (requests decoded, replies decoded; the boot text between them is dropped).
// The flasher stub the client uploads is replaced by filler bytes of the same length (with the
// MEM_DATA checksums fixed), so no stub image enters the repository: the fixture names the
// stub's catalogue entry and the filler's digest instead.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  KNOWN_STUBS,
  isChipName,
  recogniseRamCode,
  SimBoard,
  type Rfc2217TrafficEvent,
  simTraffic,
  startRfc2217Server,
} from '#sim';

const { FrameSplitter, isReplyFrame, isRequestFrame } = simTraffic;
type RecordedStep = simTraffic.RecordedStep;

const MEM_BEGIN = 0x05;
const MEM_END = 0x06;
const MEM_DATA = 0x07;

function filler(length: number, address: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => ((address >>> 8) + i * 131 + 7) & 0xff);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      chip: { type: 'string' },
      name: { type: 'string' },
      mac: { type: 'string' },
      out: { type: 'string' },
      tool: { type: 'string' },
      command: { type: 'string' },
    },
  });
  const chip = values.chip ?? '';
  if (!isChipName(chip) || !values.out || !values.name || !values.mac) {
    process.stderr.write(
      'usage: record-esptool-session --chip <chip> --name <board> --mac <mac> --out <file.json> [--tool …] [--command …]\n',
    );
    process.exitCode = 2;
    return;
  }
  const board = new SimBoard({ chip: chip, name: values.name, mac: values.mac, timeScale: 1 });
  const events: Rfc2217TrafficEvent[] = [];
  let sessions = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = await startRfc2217Server(board, {
    port: 0,
    record: (event) => events.push(event),
    log: (line) => {
      process.stderr.write(`${line}\n`);
      if (line.startsWith('client ') && line.includes(' left ') && ++sessions === 1) done();
    },
  });
  process.stdout.write(`${server.url}\n`);
  await finished;
  await server.close();

  // Frames in order; the stub upload is redacted on the way.
  const steps: RecordedStep[] = [];
  const toBoard = new FrameSplitter();
  const toClient = new FrameSplitter();
  const segments: Array<{ address: number; data: Uint8Array; real: number[] }> = [];
  let mem: { address: number; size: number; received: number } | null = null;
  let stubEntry: number | null = null;
  for (const event of events) {
    const atMs = Math.round(event.atMs * 10) / 10;
    if (event.kind === 'control') steps.push({ atMs, control: event.value });
    else if (event.kind === 'baud') steps.push({ atMs, baud: event.baud });
    else if (event.direction === 'to-client')
      toClient.push(event.bytes, (frame) => {
        if (isReplyFrame(frame)) steps.push({ atMs, recv: Buffer.from(frame).toString('base64') });
      });
    else
      toBoard.push(event.bytes, (frame) => {
        if (!isRequestFrame(frame)) return;
        const op = frame[1];
        const body = frame.subarray(8);
        const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
        let redacted = false;
        if (op === MEM_BEGIN && body.length === 16) {
          mem = { size: view.getUint32(0, true), address: view.getUint32(12, true), received: 0 };
          segments.push({ address: mem.address, data: new Uint8Array(mem.size), real: [] });
        } else if (op === MEM_DATA && mem && body.length >= 16) {
          const data = body.subarray(16);
          const segment = segments.at(-1)!;
          segment.real.push(...data);
          const fake = filler(data.length, mem.address + mem.received);
          segment.data.set(fake, mem.received);
          mem.received += data.length;
          data.set(fake);
          let sum = 0xef;
          for (const b of fake) sum ^= b;
          new DataView(frame.buffer, frame.byteOffset + 4, 4).setUint32(0, sum, true);
          redacted = true;
        } else if (op === MEM_END && body.length === 8) stubEntry = view.getUint32(4, true);
        steps.push({ atMs, send: Buffer.from(frame).toString('base64'), ...(redacted ? { redacted } : {}) });
      });
  }
  let stub: simTraffic.RecordedSession['stub'] = null;
  if (stubEntry !== null) {
    const real = segments.map((s) => ({ address: s.address, data: Uint8Array.from(s.real) }));
    const code = recogniseRamCode(chip, real, stubEntry);
    const holder = segments.find((s) => stubEntry! >= s.address && stubEntry! < s.address + s.data.length);
    stub = {
      recognisedAs: code.kind === 'known' ? code.stub.release : code.kind,
      textSha256: code.kind === 'known' ? code.stub.textSha256 : null,
      textStart: holder?.address ?? null,
      entry: stubEntry,
      fillerTextSha256: holder ? createHash('sha256').update(holder.data).digest('hex') : null,
    };
    if (code.kind === 'known' && !KNOWN_STUBS.includes(code.stub)) throw new Error('catalogue mismatch');
  }
  const fixture: simTraffic.RecordedSession = {
    recordedWith: values.tool ?? 'unknown client',
    command: values.command ?? '',
    board: { chip, name: values.name, mac: values.mac, resetMode: 'local' },
    stub,
    warnings: [...board.warnings],
    steps,
  };
  writeFileSync(values.out, `${JSON.stringify(fixture, null, 1)}\n`);
  board.dispose();
  process.stderr.write(`wrote ${steps.length} steps to ${values.out}\n`);
}

await main();
