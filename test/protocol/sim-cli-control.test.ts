/**
 * The control endpoint of `flashfarm sim`, driven over real HTTP while our
 * flasher works the boards over RFC 2217: token and loopback binding, fault
 * switches, unplug/replug (the port goes away and comes back), power cycle,
 * swapping the unit under a port, flash hashes and identity read back.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFirmwareSet, EspError, flash, type FlasherEvent, type FlashRegion, type Transport } from '#esp';
import { openTransport, Rfc2217Transport } from '#serial';
import type { ControlServer } from '../../apps/cli/src/sim/index.js';
import { pollUntil } from '../support/poll.js';
import { freePort, simCliRuns } from './support/sim-cli.js';

const start = simCliRuns();
const transports: Transport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

interface BoardView {
  name: string;
  url: string;
  port: number;
  plugged: boolean;
  clientConnected: boolean;
  unit: number;
  chip: string;
  mac: string;
  flashSizeBytes: number;
  mode: string;
  faults: Record<string, unknown>;
  flashCounters: { writeSessions: number; verifiedBoots: number };
  lid: { line: string; closed: boolean } | null;
}

/** One HTTP call to the control endpoint; returns status and parsed JSON. */
async function call(
  control: ControlServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${control.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${control.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function ok<T = BoardView>(
  control: ControlServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const { status, json } = await call(control, method, path, body);
  if (status !== 200) throw new Error(`${method} ${path} → ${status} ${JSON.stringify(json)}`);
  return json as T;
}

async function simWithControl(extra: string[] = []) {
  const run = start(['--count', '2', '--base-port', '0', '--time-scale', '0', ...extra]);
  const { boards, control } = await run.ready;
  if (!control) throw new Error('no control endpoint');
  return { run, boards, control };
}

async function open(url: string): Promise<Transport> {
  const transport = await openTransport(url, { baudRate: 115_200 });
  transports.push(transport);
  return transport;
}

function firmware(version = '1.0.0'): FlashRegion[] {
  return buildFirmwareSet({ chip: 'esp32', projectName: 'ctl', version, payloadBytes: 64 * 1024 });
}

const hash = (algorithm: string, data: Uint8Array): string =>
  createHash(algorithm).update(data).digest('hex');

async function failure(p: Promise<unknown>): Promise<EspError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EspError);
    return err as EspError;
  }
  throw new Error('expected a failure');
}

describe('flashfarm sim control endpoint', () => {
  it('answers only with the token, only on 127.0.0.1, and lists the boards with their identity', async () => {
    const token = 'a-token-for-this-test-0123456789';
    const port = await freePort();
    const { run, boards, control } = await simWithControl([
      '--control-port',
      String(port),
      '--control-token',
      token,
    ]);
    expect(control.url).toBe(`http://127.0.0.1:${port}`);
    expect(run.stdout()).toContain(`Control: http://127.0.0.1:${port}`);
    expect(run.stdout()).toContain(`Bearer ${token}`);

    const none = await fetch(`${control.url}/boards`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/Bearer/),
    });
    const wrong = await call(control, 'GET', '/boards', undefined, { authorization: `Bearer ${token}x` });
    expect(wrong.status).toBe(401);

    const list = await ok<{ boards: BoardView[] }>(control, 'GET', '/boards');
    expect(list.boards.map((b) => b.name)).toEqual(['esp32-1', 'esp32-2']);
    expect(list.boards[0]).toMatchObject({
      url: boards[0].url,
      plugged: true,
      unit: 1,
      chip: 'esp32',
      mac: boards[0].board.mac,
      flashSizeBytes: 4 * 1024 * 1024,
    });

    // Nothing but loopback: the endpoint is not reachable on the machine's other addresses.
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (outside) {
      const refused = await new Promise<string>((resolve) => {
        const socket = tcpConnect({ host: outside, port }, () => {
          socket.destroy();
          resolve('connected');
        });
        socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
    }
  });

  it('switches faults on and off per board while it runs (PATCH merges, PUT replaces, DELETE clears)', async () => {
    const { boards, control } = await simWithControl();
    const on = await ok(control, 'PATCH', '/boards/esp32-1/faults', { io0Unwired: true, latencyMs: 2 });
    expect(on.faults).toMatchObject({ io0Unwired: true, latencyMs: 2 });
    expect(boards[0].board.currentFaults.io0NotWired).toBe(true);
    expect(boards[1].board.currentFaults.io0NotWired).toBe(false);

    const transport = await open(boards[0].url);
    const err = await failure(flash(transport, firmware(), { connectAttempts: 2 }));
    expect(err.code).toBe('WRONG_BOOT_MODE');

    const merged = await ok(control, 'PATCH', '/boards/esp32-1/faults', { bootLoop: true });
    expect(merged.faults).toMatchObject({ io0Unwired: true, latencyMs: 2, bootLoop: true });
    const replaced = await ok(control, 'PUT', '/boards/esp32-1/faults', { latencyMs: 1 });
    expect(replaced.faults).toMatchObject({ io0Unwired: false, bootLoop: false, latencyMs: 1 });
    const cleared = await ok(control, 'DELETE', '/boards/esp32-1/faults');
    expect(cleared.faults).toMatchObject({ latencyMs: 0, io0Unwired: false });
    expect(await ok(control, 'GET', '/boards/esp32-1/faults')).toEqual(cleared.faults);

    if (!transport.isOpen) await transport.open(115_200);
    const result = await flash(transport, firmware());
    expect(result.regions.every((r) => r.verified)).toBe(true);

    const bad = await call(control, 'PATCH', '/boards/esp32-1/faults', { dropRate: 2 });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      code: 'INVALID_FAULT',
      message: 'body.dropRate must be a probability from 0 to 1 (got 2)',
    });
    const unknown = await call(control, 'PATCH', '/boards/esp32-1/faults', { noise: true });
    expect(unknown.json).toMatchObject({
      code: 'INVALID_FAULT',
      message: expect.stringMatching(/unknown fault "noise"/),
    });
    const outside = await call(control, 'PATCH', '/boards/esp32-1/faults', { flashWriteFailAt: '0x800000' });
    expect(outside.json.message).toMatch(/outside the board's 4 MiB flash/);
    // A refused change changes nothing.
    expect(boards[0].board.currentFaults.dropRate).toBe(0);
  });

  it('unplug makes the port go away (client cut, connection refused); plug brings it back on the same port', async () => {
    const { boards, control } = await simWithControl();
    const slot = boards[0];
    const transport = await open(slot.url);
    const gone: Error[] = [];
    transport.onDisconnect((reason) => gone.push(reason));

    const out = await ok(control, 'POST', '/boards/esp32-1/unplug');
    expect(out).toMatchObject({ plugged: false, mode: 'off', url: slot.url });
    await pollUntil(() => gone.length === 1, { what: 'the client to be cut' });
    await expect(openTransport(slot.url, { baudRate: 115_200 })).rejects.toMatchObject({
      code: 'PORT_NOT_FOUND',
    });
    // Unplugging twice is harmless; the other board is untouched.
    expect((await ok(control, 'POST', '/boards/esp32-1/unplug')).plugged).toBe(false);
    expect((await ok(control, 'GET', '/boards/esp32-2')).plugged).toBe(true);
    const cycle = await call(control, 'POST', '/boards/esp32-1/power-cycle');
    expect(cycle.status).toBe(409);
    expect(cycle.json).toMatchObject({ code: 'BOARD_UNPLUGGED' });

    const back = await ok(control, 'POST', '/boards/esp32-1/plug');
    expect(back).toMatchObject({ plugged: true, port: slot.port });
    const again = await open(slot.url);
    const parts = firmware();
    const result = await flash(again, parts);
    expect(result.chip.mac).toBe(slot.board.mac);
    expect(result.regions.every((r) => r.verified)).toBe(true);
  });

  it('a flash interrupted by an unplug resumes once the board is plugged back', async () => {
    const { boards, control } = await simWithControl();
    const transport = await open(boards[0].url);
    const parts = firmware();
    let pulled = false;
    const result = await flash(transport, parts, {
      reopenWaitMs: 20_000,
      onEvent: (e: FlasherEvent) => {
        if (!pulled && e.type === 'progress' && e.stage === 'write' && e.region === parts.length - 1) {
          pulled = true;
          void ok(control, 'POST', '/boards/esp32-1/unplug').then(() =>
            ok(control, 'POST', '/boards/esp32-1/plug'),
          );
        }
      },
    });
    expect(pulled).toBe(true);
    expect(result.reconnects).toBeGreaterThanOrEqual(1);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    for (const p of parts) {
      const read = await ok<{ sha256: string }>(
        control,
        'GET',
        `/boards/esp32-1/flash-hash?offset=${p.offset}&length=${p.data.length}`,
      );
      expect(read.sha256).toBe(hash('sha256', p.data));
    }
  }, 60_000);

  it('counts completed flashes from the board side: a verified flash that booted counts, one cut short does not', async () => {
    const { boards, control } = await simWithControl();
    const counters = async () => (await ok(control, 'GET', '/boards/esp32-1')).flashCounters;
    expect(await counters()).toEqual({ writeSessions: 0, verifiedBoots: 0 });
    const first = await open(boards[0].url);
    await flash(first, firmware('1.0.0'));
    await first.close();
    // The hard reset's EN release reaches the chip a few ms after the flasher returns.
    await pollUntil(() => boards[0].board.mode === 'flash-boot', { what: 'the app to start' });
    expect(await counters()).toEqual({ writeSessions: 1, verifiedBoots: 1 });
    // A second flash loses its board in the middle of writing: it wrote, it never finished.
    const parts = firmware('2.0.0');
    let pulled = false;
    const cut = await failure(
      flash(await open(boards[0].url), parts, {
        reopenWaitMs: 100,
        onEvent: (e: FlasherEvent) => {
          if (!pulled && e.type === 'progress' && e.stage === 'write' && e.region === parts.length - 1) {
            pulled = true;
            void ok(control, 'POST', '/boards/esp32-1/unplug');
          }
        },
      }),
    );
    expect(cut.code).toBe('DEVICE_GONE');
    // Power comes back and the app boots from what is in flash: that is no completed flash either.
    await ok(control, 'POST', '/boards/esp32-1/plug');
    await pollUntil(() => boards[0].board.mode === 'flash-boot', { what: 'the board to boot' });
    expect(await counters()).toEqual({ writeSessions: 2, verifiedBoots: 1 });
    // A third flash loses its host (a killed agent) while writing its last part, after the earlier
    // parts were verified; the next host resets the board into its app. The last write was never
    // verified, so that is no completed flash either.
    const third = firmware('3.0.0');
    const host = await open(boards[0].url);
    const killed = new AbortController();
    const dropped = await flash(host, third, {
      signal: killed.signal,
      onEvent: (e: FlasherEvent) => {
        if (e.type === 'progress' && e.stage === 'write' && e.region === third.length - 1) killed.abort();
      },
    }).then(
      () => 'finished',
      () => 'stopped',
    );
    expect(dropped).toBe('stopped');
    await host.close();
    const next = await open(boards[0].url);
    // EN low then high with IO0 released (DTR off): a normal boot from flash.
    await next.setSignals({ dtr: false, rts: true });
    await next.setSignals({ dtr: false, rts: false });
    await pollUntil(() => boards[0].board.mode === 'flash-boot', { what: 'the app to start again' });
    expect(await counters()).toEqual({ writeSessions: 3, verifiedBoots: 1 });
  }, 60_000);

  it('power-cycles a board while its client stays connected', async () => {
    const { boards, control } = await simWithControl();
    const transport = await open(boards[0].url);
    await flash(transport, firmware());
    boards[0].board.clearConsole();
    const gone: Error[] = [];
    transport.onDisconnect((reason) => gone.push(reason));
    await ok(control, 'POST', '/boards/esp32-1/power-cycle');
    await pollUntil(() => /Calling app_main/.test(boards[0].board.console), {
      what: 'the app to boot again',
    });
    expect(boards[0].board.console).toMatch(/rst:0x1 \(POWERON_RESET\)/);
    const log = await ok<{ text: string }>(control, 'GET', '/boards/esp32-1/console');
    expect(log.text).toMatch(/Project name: +ctl/);
    expect(transport.isOpen).toBe(true);
    expect(gone).toHaveLength(0);
  });

  it('swaps the unit under a port: another MAC and blank flash behind the same address', async () => {
    const { boards, control } = await simWithControl();
    const slot = boards[0];
    const first = await open(slot.url);
    const parts = firmware('1.0.0');
    const one = await flash(first, parts);
    const app = parts[parts.length - 1];

    const swapped = await ok(control, 'POST', '/boards/esp32-1/swap');
    expect(swapped).toMatchObject({
      name: 'esp32-1',
      url: slot.url,
      port: slot.port,
      unit: 2,
      plugged: true,
    });
    expect(swapped.mac).not.toBe(one.chip.mac);
    // The new unit's flash is blank where the old one held the app.
    const blank = await ok<{ sha256: string; md5: string }>(
      control,
      'GET',
      `/boards/esp32-1/flash-hash?offset=0x${app.offset.toString(16)}&length=${app.data.length}`,
    );
    expect(blank.md5).toBe(hash('md5', new Uint8Array(app.data.length).fill(0xff)));

    // The next cycle identifies the unit by its MAC, as a production line would.
    const second = await open(slot.url);
    const two = await flash(second, parts);
    expect(two.chip.mac).toBe(swapped.mac);
    const held = await ok<{ sha256: string; md5: string; offset: number; length: number }>(
      control,
      'GET',
      `/boards/esp32-1/flash-hash?offset=${app.offset}&length=${app.data.length}`,
    );
    expect(held).toEqual({
      offset: app.offset,
      length: app.data.length,
      sha256: hash('sha256', app.data),
      md5: hash('md5', app.data),
    });

    // A unit of another chip with a chosen MAC and its own faults.
    const c3 = await ok(control, 'POST', '/boards/esp32-1/swap', {
      chip: 'ESP32-C3',
      mac: '7c:df:a1:00:00:42',
      faults: { bootLoop: true },
    });
    expect(c3).toMatchObject({
      chip: 'esp32c3',
      mac: '7c:df:a1:00:00:42',
      unit: 3,
      faults: { bootLoop: true },
    });
    const third = await open(slot.url);
    const three = await flash(
      third,
      buildFirmwareSet({ chip: 'esp32c3', projectName: 'c3', version: '1', payloadBytes: 1024 }),
    );
    expect(three.chip.chip).toBe('esp32c3');
    expect(three.chip.mac).toBe('7c:df:a1:00:00:42');

    const bad = await call(control, 'POST', '/boards/esp32-1/swap', { chip: 'esp33' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      code: 'INVALID_UNIT',
      message: expect.stringMatching(/unknown chip "esp33"; valid chips/),
    });
    const same = await call(control, 'POST', '/boards/esp32-1/swap', { mac: '7c:df:a1:00:00:42' });
    expect(same.json).toMatchObject({
      code: 'INVALID_UNIT',
      message: expect.stringMatching(/old unit's MAC/),
    });
    expect((await ok(control, 'GET', '/boards/esp32-1')).unit).toBe(3);
  }, 60_000);

  it("opens and closes a fixture lid: the client hears it on the lid's line, and the lid stays with the port across a swap", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashfarm-fleet-lid-'));
    try {
      const file = join(dir, 'fleet.json');
      await writeFile(
        file,
        JSON.stringify({
          boards: [
            { chip: 'esp32', name: 'jig-1', lid: { line: 'dsr', closed: true } },
            { chip: 'esp32', name: 'jig-2', lid: 'cd' },
            { chip: 'esp32', name: 'bench' },
          ],
        }),
      );
      const run = start(['--fleet', file, '--base-port', '0', '--time-scale', '0']);
      const { boards, control } = await run.ready;
      if (!control) throw new Error('no control endpoint');
      // The listing shows each fixture's lid and how it is at start.
      expect(run.stdout()).toMatch(/jig-1 .*lid=dsr:closed/);
      expect(run.stdout()).toMatch(/jig-2 .*lid=cd:open/);
      const views = (await ok<{ boards: BoardView[] }>(control, 'GET', '/boards')).boards;
      expect(views.map((b) => b.lid)).toEqual([
        { line: 'dsr', closed: true },
        { line: 'cd', closed: false },
        null,
      ]);

      const jig = boards[1];
      const client = new Rfc2217Transport({ host: '127.0.0.1', port: jig.port });
      transports.push(client);
      const cd: boolean[] = [];
      client.onModemLines((lines) => cd.push(lines.cd));
      await client.open(115_200);
      expect(client.modemLines).toEqual({ cts: false, dsr: false, ri: false, cd: false });

      const closed = await ok(control, 'POST', '/boards/jig-2/lid', { closed: true });
      expect(closed.lid).toEqual({ line: 'cd', closed: true });
      await pollUntil(() => cd.at(-1) === true, { what: 'CD to rise when the lid closed' });
      expect(await ok<{ lid: unknown }>(control, 'GET', '/boards/jig-2/lid')).toEqual({
        lid: { line: 'cd', closed: true },
      });
      await ok(control, 'POST', '/boards/jig-2/lid', { closed: false });
      await pollUntil(() => cd.at(-1) === false, { what: 'CD to fall when the lid opened' });

      // The lid belongs to the fixture: a swapped unit sits under it as the last one left it.
      await ok(control, 'POST', '/boards/jig-2/lid', { closed: true });
      const swapped = await ok(control, 'POST', '/boards/jig-2/swap');
      expect(swapped).toMatchObject({ unit: 2, lid: { line: 'cd', closed: true } });
      const next = new Rfc2217Transport({ host: '127.0.0.1', port: jig.port });
      transports.push(next);
      await next.open(115_200);
      expect(next.modemLines).toMatchObject({ cd: true });

      // A lid can be wired at run time with "line"; without one a slot has none to move.
      const none = await call(control, 'POST', '/boards/bench/lid', { closed: true });
      expect(none).toMatchObject({
        status: 409,
        json: { code: 'NO_LID', message: expect.stringMatching(/lid: cd/) },
      });
      const wired = await ok(control, 'POST', '/boards/bench/lid', { closed: true, line: 'cts' });
      expect(wired.lid).toEqual({ line: 'cts', closed: true });
      expect(boards[2].board.modemInputs).toMatchObject({ cts: true, cd: false });

      const bad: Array<[unknown, RegExp]> = [
        [undefined, /JSON object: \{"closed": true\}/],
        [{ closed: 'yes' }, /closed must be true or false \(got "yes"\)/],
        [{}, /closed must be true or false \(got nothing\)/],
        [{ closed: true, line: 'ri' }, /line must be one of cd, cts, dsr/],
        [{ closed: true, open: false }, /unknown lid field\(s\) open; known: closed, line/],
      ];
      for (const [body, message] of bad) {
        const res = await call(control, 'POST', '/boards/jig-2/lid', body);
        expect({ status: res.status, code: res.json.code }).toEqual({ status: 400, code: 'INVALID_LID' });
        expect(res.json.message).toMatch(message);
      }
      // A refused change changes nothing.
      expect((await ok(control, 'GET', '/boards/jig-2')).lid).toEqual({ line: 'cd', closed: true });

      // Fleet files are checked before anything starts.
      for (const [lid, message] of [
        ['ri', /boards\[0\] lid: line must be one of cd, cts, dsr/],
        [{ line: 'cd', closed: 'yes' }, /lid\.closed must be true or false/],
        [{ line: 'cd', shut: true }, /unknown lid key\(s\) shut; known: line, closed/],
      ] as Array<[unknown, RegExp]>) {
        await writeFile(file, JSON.stringify({ boards: [{ chip: 'esp32', lid }] }));
        const refused = start(['--fleet', file, '--no-control']);
        await expect(refused.exit).resolves.toBe(2);
        expect(refused.stderr()).toMatch(message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says clearly what is wrong with a request', async () => {
    const { control } = await simWithControl();
    const cases: Array<[string, string, unknown, number, string]> = [
      ['GET', '/boards/nope', undefined, 404, 'UNKNOWN_BOARD'],
      ['GET', '/boards/esp32-1/flash-hash?offset=0x3ff000&length=8192', undefined, 400, 'INVALID_RANGE'],
      ['GET', '/boards/esp32-1/flash-hash?offset=-1', undefined, 400, 'INVALID_RANGE'],
      ['GET', '/nothing', undefined, 404, 'NOT_FOUND'],
      ['POST', '/boards/esp32-1/faults', { bootLoop: true }, 405, 'METHOD_NOT_ALLOWED'],
      ['PATCH', '/boards/esp32-1/faults', '{"bootLoop": tru', 400, 'INVALID_BODY'],
      ['PATCH', '/boards/esp32-1/faults', 'x'.repeat(70_000), 413, 'BODY_TOO_LARGE'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await call(control, method, path, body);
      expect({ path, status: res.status, code: res.json.code }).toEqual({ path, status, code });
      expect(String(res.json.message).length).toBeGreaterThan(10);
    }
    const plain = await fetch(`${control.url}/boards/esp32-1/faults`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${control.token}`, 'content-type': 'text/plain' },
      body: 'bootLoop=true',
    });
    expect(plain.status).toBe(415);
    expect(((await plain.json()) as { code: string }).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
