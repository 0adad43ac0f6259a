import { describe, expect, it } from '@jest/globals';
import { PortRegistry } from './port-registry.js';

describe('port registry', () => {
  it('gives a port to one owner at a time, in order of asking', async () => {
    const registry = new PortRegistry();
    const first = await registry.acquire('/dev/ttyUSB0', 'run:a');
    expect(registry.tryAcquire('/dev/ttyUSB0', 'probe')).toBeUndefined();
    const order: string[] = [];
    const b = registry.acquire('/dev/ttyUSB0', 'run:b').then((l) => (order.push(l.owner), l));
    const c = registry.acquire('/dev/ttyUSB0', 'run:c').then((l) => (order.push(l.owner), l));
    expect(registry.holder('/dev/ttyUSB0')).toBe('run:a');
    first.release();
    first.release(); // idempotent: must not hand the port out twice
    (await b).release();
    (await c).release();
    expect(order).toEqual(['run:b', 'run:c']);
    expect(registry.holder('/dev/ttyUSB0')).toBeUndefined();
    expect(registry.tryAcquire('/dev/ttyUSB1', 'probe')?.owner).toBe('probe');
  });

  it('makes a preemptible holder (the console) give way to a run, and gives it back after', async () => {
    const registry = new PortRegistry();
    const console1 = await registry.acquire('p', 'console', { preemptible: true });
    expect(console1.preempted.aborted).toBe(false);
    const consoleAgain = registry.acquire('p', 'console', { preemptible: true });
    const run = registry.acquire('p', 'run:x');
    expect(console1.preempted.aborted).toBe(true);
    console1.release();
    const runLease = await run;
    expect(runLease.owner).toBe('run:x'); // the run went ahead of the console's second request
    runLease.release();
    expect((await consoleAgain).owner).toBe('console');
  });

  it('drops a waiter whose signal fires', async () => {
    const registry = new PortRegistry();
    const held = await registry.acquire('p', 'run:a');
    const controller = new AbortController();
    const waiting = registry.acquire('p', 'run:b', { signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    const released: string[] = [];
    registry.onReleased((port) => released.push(port));
    held.release();
    expect(registry.holder('p')).toBeUndefined();
    expect(released).toEqual(['p']);
  });
});
