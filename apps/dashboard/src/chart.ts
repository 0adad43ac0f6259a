/**
 * The dashboard's charts: small SVG drawn from data (no library). A line chart
 * over time and horizontal bars; each is labelled for screen readers and
 * carries its numbers in a title per point.
 */
const SVG = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One point of a line chart. */
export interface ChartPoint {
  at: Date;
  value: number;
}

/** A line chart of values over time, with the y range and the first and last instants labelled. */
export function lineChart(
  points: ChartPoint[],
  options: { label: string; unit: string; format?: (v: number) => string; id?: string },
): SVGSVGElement {
  const width = 560;
  const height = 180;
  const pad = { left: 84, right: 12, top: 12, bottom: 28 };
  const format = options.format ?? ((v: number) => v.toFixed(1));
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    class: 'chart',
    'aria-label': `${options.label}: ${points.length} point(s)`,
    ...(options.id ? { id: options.id } : {}),
  }) as SVGSVGElement;
  svg.append(el('title', {}, options.label));
  if (!points.length) {
    svg.append(
      el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no data'),
    );
    return svg;
  }
  const t0 = points[0].at.getTime();
  const t1 = points.at(-1)!.at.getTime();
  const max = Math.max(...points.map((p) => p.value)) || 1;
  const x = (t: number) =>
    pad.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  svg.append(
    el('line', { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), class: 'chart-axis' }),
    el('line', { x1: pad.left, y1: pad.top, x2: pad.left, y2: y(0), class: 'chart-axis' }),
    el(
      'text',
      { x: pad.left - 6, y: pad.top + 4, 'text-anchor': 'end', class: 'chart-label' },
      `${format(max)} ${options.unit}`,
    ),
    el('text', { x: pad.left - 6, y: y(0), 'text-anchor': 'end', class: 'chart-label' }, '0'),
    el('text', { x: pad.left, y: height - 8, class: 'chart-label' }, points[0].at.toLocaleString()),
    el(
      'text',
      { x: width - pad.right, y: height - 8, 'text-anchor': 'end', class: 'chart-label' },
      points.at(-1)!.at.toLocaleString(),
    ),
  );
  const d = points
    .map((p, i) => `${i ? 'L' : 'M'}${x(p.at.getTime()).toFixed(1)},${y(p.value).toFixed(1)}`)
    .join(' ');
  svg.append(el('path', { d, class: 'chart-line' }));
  for (const p of points) {
    const dot = el('circle', { cx: x(p.at.getTime()), cy: y(p.value), r: 3, class: 'chart-dot' });
    dot.append(el('title', {}, `${p.at.toLocaleString()}: ${format(p.value)} ${options.unit}`));
    svg.append(dot);
  }
  return svg;
}

/** One bar of a bar chart. */
export interface Bar {
  label: string;
  value: number;
  text: string;
  /** "bad" bars are drawn in the failure colour. */
  tone?: 'good' | 'bad';
}

/** Horizontal bars, longest = `max` (default the largest value), with their label and text. */
export function barChart(bars: Bar[], options: { label: string; max?: number; id?: string }): SVGSVGElement {
  const row = 22;
  const width = 560;
  const labelWidth = 200;
  const height = Math.max(row, bars.length * row) + 4;
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    class: 'chart',
    'aria-label': `${options.label}: ${bars.map((b) => `${b.label} ${b.text}`).join('; ') || 'no data'}`,
    ...(options.id ? { id: options.id } : {}),
  }) as SVGSVGElement;
  svg.append(el('title', {}, options.label));
  if (!bars.length)
    svg.append(
      el('text', { x: width / 2, y: row - 6, 'text-anchor': 'middle', class: 'chart-empty' }, 'no data'),
    );
  const max = options.max ?? (Math.max(...bars.map((b) => b.value)) || 1);
  bars.forEach((b, i) => {
    const top = i * row + 2;
    const w = Math.max(1, (b.value / max) * (width - labelWidth - 90));
    svg.append(
      el(
        'text',
        { x: labelWidth - 6, y: top + 14, 'text-anchor': 'end', class: 'chart-label' },
        b.label.slice(0, 32),
      ),
      el('rect', {
        x: labelWidth,
        y: top + 2,
        width: w,
        height: row - 6,
        class: `chart-bar chart-bar-${b.tone ?? 'good'}`,
      }),
      el('text', { x: labelWidth + w + 6, y: top + 14, class: 'chart-label' }, b.text),
    );
  });
  return svg;
}
