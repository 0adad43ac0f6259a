/** Allow/deny globs for discovered serial ports (`/dev/ttyUSB*`, `/dev/serial/by-id/*Espressif*`). */

/** Compiles a glob: `*` stays within one path segment, `**` crosses segments, `?` is one character. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}

/** Decides whether a discovered port may be used. */
export class PortFilter {
  private readonly allow: RegExp[];
  private readonly deny: RegExp[];

  constructor(options: { allow: readonly string[]; deny: readonly string[] }) {
    this.allow = options.allow.map(globToRegExp);
    this.deny = options.deny.map(globToRegExp);
  }

  /** True when any name of the port matches an allow glob (or there are none) and none matches a deny glob. */
  accepts(names: ReadonlyArray<string | undefined>): boolean {
    const known = names.filter((n): n is string => Boolean(n));
    if (known.some((n) => this.deny.some((re) => re.test(n)))) return false;
    if (this.allow.length === 0) return true;
    return known.some((n) => this.allow.some((re) => re.test(n)));
  }
}
