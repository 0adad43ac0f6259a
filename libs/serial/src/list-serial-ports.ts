import { readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** One serial port as the OS describes it. */
export interface SerialPortInfo {
  /** Device path to open: /dev/ttyUSB0, COM3. */
  path: string;
  /** Stable alias under /dev/serial/by-id, when udev made one. */
  byIdPath?: string;
  /** USB vendor ID, 4 lowercase hex digits (e.g. "10c4"). */
  vendorId?: string;
  /** USB product ID, 4 lowercase hex digits (e.g. "ea60"). */
  productId?: string;
  serialNumber?: string;
  manufacturer?: string;
  product?: string;
  /** Physical attachment: the USB bus-port path on Linux ("1-1.3"), the location ID elsewhere. */
  location?: string;
}

/** What listSerialPorts found, and why the list may be incomplete. */
export interface SerialPortListing {
  ports: SerialPortInfo[];
  /** Set when some source could not be read (no sysfs, no udevadm...); the ports are what could be found. */
  incompleteReason?: string;
}

/** Where listSerialPorts looks (tests point these at a fake tree). */
export interface ListSerialPortsOptions {
  sysClassTty?: string;
  devSerialById?: string;
  /** Force the node-serialport (udevadm / OS API) listing instead of sysfs. */
  useBinding?: boolean;
}

/** Lists serial ports with USB identity and physical location; never throws (a failure is reported in incompleteReason). */
export async function listSerialPorts(options: ListSerialPortsOptions = {}): Promise<SerialPortListing> {
  const sysClassTty = options.sysClassTty ?? '/sys/class/tty';
  if (!options.useBinding && (process.platform === 'linux' || options.sysClassTty !== undefined)) {
    try {
      await stat(sysClassTty);
      return await listFromSysfs(sysClassTty, options.devSerialById ?? '/dev/serial/by-id');
    } catch (err) {
      const fallback = await listFromBinding();
      const why = `sysfs not readable (${(err as Error).message})`;
      return {
        ports: fallback.ports,
        incompleteReason: [why, fallback.incompleteReason].filter(Boolean).join('; '),
      };
    }
  }
  return listFromBinding();
}

async function listFromSysfs(sysClassTty: string, devSerialById: string): Promise<SerialPortListing> {
  const byId = await readByIdLinks(devSerialById);
  const ports: SerialPortInfo[] = [];
  for (const name of (await readdir(sysClassTty)).sort()) {
    const entry = join(sysClassTty, name);
    let devicePath: string;
    try {
      devicePath = await realpath(entry);
    } catch {
      continue;
    }
    const usbDevice = await findUsbDevice(devicePath);
    // Only USB-attached ports: the fixed ttyS0..31 a PC kernel always creates are not boards.
    if (!usbDevice) continue;
    const path = `/dev/${name}`;
    const info: SerialPortInfo = { path, location: basename(usbDevice) };
    const alias = byId.get(path);
    if (alias) info.byIdPath = alias;
    const attrs = await Promise.all(
      ['idVendor', 'idProduct', 'serial', 'manufacturer', 'product'].map((attr) => readAttr(usbDevice, attr)),
    );
    const [vendorId, productId, serialNumber, manufacturer, product] = attrs;
    if (vendorId) info.vendorId = vendorId.toLowerCase();
    if (productId) info.productId = productId.toLowerCase();
    if (serialNumber) info.serialNumber = serialNumber;
    if (manufacturer) info.manufacturer = manufacturer;
    if (product) info.product = product;
    ports.push(info);
  }
  return { ports };
}

/** Walks up from the tty's sysfs directory to the USB device (the directory with idVendor). */
async function findUsbDevice(devicePath: string): Promise<string | undefined> {
  let dir = dirname(devicePath);
  for (let depth = 0; depth < 8 && dir !== dirname(dir); depth++, dir = dirname(dir)) {
    if (await readAttr(dir, 'idVendor')) return dir;
  }
  return undefined;
}

async function readAttr(dir: string, attr: string): Promise<string | undefined> {
  try {
    const text = (await readFile(join(dir, attr), 'utf8')).trim();
    return text.length > 0 ? text : undefined;
  } catch {
    return undefined;
  }
}

async function readByIdLinks(dir: string): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return links;
  }
  for (const name of names) {
    try {
      const target = resolve(dir, await readlink(join(dir, name)));
      links.set(`/dev/${basename(target)}`, join(dir, name));
    } catch {
      // A dangling alias (device just unplugged) is not a port.
    }
  }
  return links;
}

async function listFromBinding(): Promise<SerialPortListing> {
  try {
    const { autoDetect } = await import('@serialport/bindings-cpp');
    const found = await autoDetect().list();
    return {
      ports: found.map((port) => {
        const info: SerialPortInfo = { path: port.path };
        if (port.vendorId) info.vendorId = port.vendorId.toLowerCase();
        if (port.productId) info.productId = port.productId.toLowerCase();
        if (port.serialNumber) info.serialNumber = port.serialNumber;
        if (port.manufacturer) info.manufacturer = port.manufacturer;
        if (port.locationId) info.location = port.locationId;
        if (port.pnpId && process.platform === 'linux') info.byIdPath = `/dev/serial/by-id/${port.pnpId}`;
        return info;
      }),
    };
  } catch (err) {
    const message =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'udevadm is not installed (apt-get install udev)'
        : (err as Error).message;
    return { ports: [], incompleteReason: `cannot list ports: ${message}` };
  }
}
