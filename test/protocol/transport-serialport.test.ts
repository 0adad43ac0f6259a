import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashErrorCode } from '#contracts';
import { listSerialPorts, openTransport, SerialPortTransport, TransportError } from '#serial';
import { pollUntil } from '../support/poll.js';

// node-serialport through a real Linux pseudo-terminal: `script` (util-linux,
// present on every Debian) allocates one and relays between our slave side
// and its own stdin/stdout, so both directions of the wire are observable.
// A pty has no DTR/RTS, which is exactly the capability case to test.

interface Pty {
  path: string;
  /** Everything our side wrote, as the far end saw it. */
  output(): Buffer;
  /** Sends bytes towards our side. */
  send(text: string): void;
  /** Ends the far side: the pty hangs up and its device node goes away. */
  hangUp(): void;
}

const children: ChildProcessWithoutNullStreams[] = [];
const transports: SerialPortTransport[] = [];
afterEach(async () => {
  for (const transport of transports.splice(0)) await transport.close();
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function openPty(): Promise<Pty> {
  const child = spawn('script', ['-qfc', 'tty; exec sleep 60', '/dev/null']);
  children.push(child);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const all = (): Buffer => Buffer.concat(chunks);
  const path = await waitFor(() => /\/dev\/pts\/\d+/.exec(all().toString('latin1'))?.[0], 'the pty name');
  const banner = all().toString('latin1').indexOf(path) + path.length + 2; // "tty" prints the name and CRLF
  return {
    path,
    output: () => all().subarray(banner),
    send: (text) => void child.stdin.write(text),
    hangUp: () => void child.kill('SIGKILL'),
  };
}

function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 3_000): Promise<T> {
  return pollUntil(probe, { timeoutMs, intervalMs: 10, what });
}

function transportFor(path: string, warnings: string[] = []): SerialPortTransport {
  const transport = new SerialPortTransport({ path, onWarning: (message) => warnings.push(message) });
  transports.push(transport);
  return transport;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return (err as TransportError).code;
}

describe('SerialPortTransport (node-serialport)', () => {
  it('maps a missing device to PORT_NOT_FOUND with what to check', async () => {
    const transport = transportFor('/dev/ttyNOPE-flashfarm');
    const err = await transport.open(115_200).then(
      () => undefined,
      (e: unknown) => e as TransportError,
    );
    expect(err?.code).toBe(FlashErrorCode.PORT_NOT_FOUND);
    expect(err?.message).toMatch(/ls \/dev\/serial\/by-id/);
    expect(transport.isOpen).toBe(false);
  });

  it('reads and writes through a pty, with read deadlines and maxBytes', async () => {
    const pty = await openPty();
    const transport = transportFor(pty.path);
    await transport.open(115_200);
    expect(transport.isOpen).toBe(true);
    expect(transport.name).toBe(pty.path);

    await transport.write(Uint8Array.of(0xc0, 0x00, 0xff, 0xc0));
    await waitFor(() => pty.output().length >= 4, 'the written frame at the far end');
    expect([...pty.output().subarray(0, 4)]).toEqual([0xc0, 0x00, 0xff, 0xc0]);

    await expect(codeOf(transport.read(60))).resolves.toBe(FlashErrorCode.TIMEOUT);
    pty.send('hello');
    const first = await transport.read(2_000, 2);
    expect(Buffer.from(first).toString()).toBe('he');
    let rest = '';
    while (rest.length < 3) rest += Buffer.from(await transport.read(2_000)).toString();
    expect(rest).toBe('llo');
  });

  it('opens exclusively: a second open is PORT_BUSY, and the port opens again once released', async () => {
    const pty = await openPty();
    const holder = transportFor(pty.path);
    await holder.open(115_200);
    const second = transportFor(pty.path);
    const err = await second.open(115_200).then(
      () => undefined,
      (e: unknown) => e as TransportError,
    );
    expect(err?.code).toBe(FlashErrorCode.PORT_BUSY);
    expect(err?.message).toMatch(/Close it/);
    await holder.close();
    await second.open(115_200); // the failed attempt left nothing behind
    await second.close();
    await second.open(115_200); // and a clean close leaves nothing behind either
    expect(second.isOpen).toBe(true);
  });

  it('cancels an open in flight on close(), and the port can be opened again', async () => {
    const pty = await openPty();
    const transport = transportFor(pty.path);
    const opening = transport.open(115_200);
    await transport.close();
    await expect(codeOf(opening)).resolves.toBe(FlashErrorCode.CANCELLED);
    expect(transport.isOpen).toBe(false);
    const next = transportFor(pty.path);
    await next.open(115_200); // the lock was given back
    const pending = next.read(5_000);
    await next.close();
    await expect(codeOf(pending)).resolves.toBe(FlashErrorCode.CANCELLED);
    await transport.open(115_200);
    expect(transport.isOpen).toBe(true);
  });

  it('treats missing modem control (pty) as a capability with one warning, not a crash', async () => {
    const pty = await openPty();
    const warnings: string[] = [];
    const transport = transportFor(pty.path, warnings);
    await transport.open(115_200);
    expect(transport.modemControl).toBe('unknown');
    await transport.setSignals({ dtr: false, rts: true });
    await transport.setSignals({ dtr: true, rts: false });
    expect(transport.modemControl).toBe('unsupported');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOT reset/);
  });

  it('changes baud and flushes input', async () => {
    const pty = await openPty();
    const transport = transportFor(pty.path);
    await transport.open(115_200);
    await transport.setBaudRate(921_600);
    expect(transport.baudRate).toBe(921_600);
    pty.send('stale');
    const got = await transport.read(2_000);
    expect(got.length).toBeGreaterThan(0);
    await transport.flushInput();
    await expect(codeOf(transport.read(60))).resolves.toBe(FlashErrorCode.TIMEOUT);
  });

  it('reports DEVICE_GONE and calls onDisconnect when the device hangs up, and releases the port', async () => {
    const pty = await openPty();
    const transport = transportFor(pty.path);
    await transport.open(115_200);
    const reasons: Error[] = [];
    transport.onDisconnect((reason) => reasons.push(reason));
    pty.send('x');
    expect(Buffer.from(await transport.read(2_000)).toString()).toBe('x');
    pty.hangUp();
    // node-serialport may not notice a pty hang-up at all; the read deadline is where we look.
    const started = Date.now();
    await expect(codeOf(transport.read(300))).resolves.toBe(FlashErrorCode.DEVICE_GONE);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(reasons).toHaveLength(1);
    expect(transport.isOpen).toBe(false);
    await expect(codeOf(transport.write(Uint8Array.of(1)))).resolves.toBe(FlashErrorCode.DEVICE_GONE);
    await transport.close();
  });

  it('openTransport picks node-serialport for device paths and releases the port when opening fails', async () => {
    await expect(codeOf(openTransport('/dev/ttyNOPE-flashfarm', { baudRate: 115_200 }))).resolves.toBe(
      FlashErrorCode.PORT_NOT_FOUND,
    );
    const pty = await openPty();
    const transport = await openTransport(pty.path, { baudRate: 115_200, onWarning: () => undefined });
    expect(transport).toBeInstanceOf(SerialPortTransport);
    transports.push(transport as SerialPortTransport);
    await expect(codeOf(openTransport('ftp://nowhere', { baudRate: 115_200 }))).resolves.toBe(
      FlashErrorCode.INVALID_ARGUMENT,
    );
    await expect(codeOf(openTransport('sim://nobody', { baudRate: 115_200 }))).resolves.toBe(
      FlashErrorCode.PORT_NOT_FOUND,
    );
  });
});

describe('listSerialPorts', () => {
  it('reads USB identity and physical location from sysfs, without udevadm', async () => {
    const root = await mkdtemp(join(tmpdir(), 'flashfarm-sysfs-'));
    try {
      // A CP2102 on bus 1, port 1.3, as the kernel lays it out, plus a built-in ttyS0 (not USB).
      const usb = join(root, 'devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.3');
      await mkdir(join(usb, '1-1.3:1.0/ttyUSB0/tty/ttyUSB0'), { recursive: true });
      await writeFile(join(usb, 'idVendor'), '10c4\n');
      await writeFile(join(usb, 'idProduct'), 'EA60\n');
      await writeFile(join(usb, 'serial'), '0001\n');
      await writeFile(join(usb, 'manufacturer'), 'Silicon Labs\n');
      await mkdir(join(root, 'devices/platform/serial8250/tty/ttyS0'), { recursive: true });
      await mkdir(join(root, 'class/tty'), { recursive: true });
      await symlink(join(usb, '1-1.3:1.0/ttyUSB0/tty/ttyUSB0'), join(root, 'class/tty/ttyUSB0'));
      await symlink(join(root, 'devices/platform/serial8250/tty/ttyS0'), join(root, 'class/tty/ttyS0'));
      await mkdir(join(root, 'by-id'));
      await symlink('../../ttyUSB0', join(root, 'by-id/usb-Silicon_Labs_CP2102_0001-if00-port0'));

      const listing = await listSerialPorts({
        sysClassTty: join(root, 'class/tty'),
        devSerialById: join(root, 'by-id'),
      });
      expect(listing.incompleteReason).toBeUndefined();
      expect(listing.ports).toEqual([
        {
          path: '/dev/ttyUSB0',
          byIdPath: join(root, 'by-id/usb-Silicon_Labs_CP2102_0001-if00-port0'),
          vendorId: '10c4',
          productId: 'ea60',
          serialNumber: '0001',
          manufacturer: 'Silicon Labs',
          location: '1-1.3',
        },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('never throws: an unreadable source gives what it can and a reason', async () => {
    const listing = await listSerialPorts({ sysClassTty: '/nonexistent/sys/class/tty' });
    expect(Array.isArray(listing.ports)).toBe(true);
    expect(listing.incompleteReason).toMatch(/sysfs not readable/);
    const real = await listSerialPorts();
    expect(Array.isArray(real.ports)).toBe(true);
  });
});
