import { flash } from '#esp';
import { SimTransport } from '#serial';
import { SimBoard, bootableAppImages } from '#sim';
const regions = bootableAppImages('esp32', { projectName: 'p', version: '1' });
const data = new Uint8Array(2048 * 1024); let x = 0x9e3779b9;
for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 0xff; }
regions.push({ offset: 0x200000, data });
const board = new SimBoard({ chip: 'esp32', name: 'p', timeScale: 0 });
const t = new SimTransport(board);
for (let i = 0; i < 4; i++) {
  await t.open(115200);
  const c0 = process.cpuUsage(); const t0 = Date.now();
  await flash(t, regions, { baud: 921600, compress: process.env.COMPRESS !== '0' });
  const c = process.cpuUsage(c0);
  console.log(`flash ${i}: wall ${Date.now() - t0} ms, process CPU ${((c.user + c.system) / 1000).toFixed(0)} ms`);
  await t.close();
}
board.dispose();
