/** A slow network link for RFC 2217 tests: a loopback relay that delays every chunk. */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP relay that holds every chunk for delayMs in each direction: a slow link. */
export async function startDelayProxy(targetPort: number, delayMs: number): Promise<Server> {
  const proxy = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port: targetPort });
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    const relay = (from: Socket, to: Socket): void => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs));
      from.on('close', () => setTimeout(() => to.destroy(), delayMs));
      from.on('error', () => undefined);
    };
    relay(inbound, outbound);
    relay(outbound, inbound);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return proxy;
}
