/**
 * A run's log as the pages print it, and a panel that follows one run's log live: the job page shows
 * the selected slot's log inline with it, so QA does not leave the job to read why a slot failed.
 */
import { follow } from './api.js';
import { h, mount } from './dom.js';
import { childController } from './live.js';
import type { LogLineView } from '#contracts';

/** One log line as the pages print it: time of day, level, stage and text. */
export function logLineText(l: LogLineView): string {
  return `${l.ts.slice(11, 23)} ${l.level.toUpperCase().padEnd(5)} ${l.stage ? `[${l.stage}] ` : ''}${l.text}`;
}

/** A log panel whose run can be changed; each change stops following the previous run. */
export interface LogPanel {
  /** The panel's element: a heading line and the log. */
  element: HTMLElement;
  /** Follows this run's log (from its first line); the same run again changes nothing. */
  show(run: { id: string; slot: number; attempt: number }): void;
  /** The run shown, if any. */
  runId(): string | undefined;
}

/** A panel that follows the log of the run it is told to show, until the page's signal ends. */
export function logPanel(signal: AbortSignal): LogPanel {
  const title = h('h2', { id: 'slot-log-title' }, 'Log');
  const live = h('span', { class: 'live', id: 'slot-log-live' }, '');
  const open = h('a', { class: 'small', id: 'slot-log-open' }, 'open run');
  const follow_ = h('input', { type: 'checkbox', checked: true, id: 'slot-log-follow' });
  const log = h('pre', { class: 'log', id: 'slot-log', tabindex: 0, 'aria-live': 'off' });
  const element = h(
    'section',
    { class: 'card', id: 'slot-log-card' },
    h('div', { class: 'log-head' }, title, live, h('label', { class: 'small' }, follow_, ' follow'), open),
    log,
  );
  let current: { id: string; controller: AbortController } | undefined;

  const show = (run: { id: string; slot: number; attempt: number }) => {
    if (current?.id === run.id) return;
    current?.controller.abort();
    const controller = childController(signal);
    current = { id: run.id, controller };
    title.textContent = `Log of slot ${run.slot}, attempt ${run.attempt}`;
    open.setAttribute('href', `#/runs/${run.id}`);
    element.dataset.runId = run.id;
    mount(log);
    const lines: string[] = [];
    // A resumed stream may repeat lines (never skip one): each seq is printed once.
    const seen = new Set<number>();
    let pending = false;
    const flush = () => {
      pending = false;
      if (controller.signal.aborted) return;
      log.textContent = lines.join('\n');
      if (follow_.checked) log.scrollTop = log.scrollHeight;
    };
    live.textContent = '● live';
    follow(
      `/runs/${encodeURIComponent(run.id)}/events`,
      (e) => {
        if (e.event === 'log') {
          const line = e.data as LogLineView;
          if (seen.has(line.seq)) return;
          seen.add(line.seq);
          lines.push(logLineText(line));
          if (!pending) {
            pending = true;
            requestAnimationFrame(flush);
          }
        } else if (e.event === 'end' && !controller.signal.aborted) {
          live.textContent = '';
        }
      },
      controller.signal,
    )
      .then(() => {
        if (!controller.signal.aborted) {
          live.textContent = '';
          flush();
          if (!lines.length) log.textContent = 'No log lines yet.';
        }
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        live.textContent = '';
        log.textContent = `The log could not be read: ${error instanceof Error ? error.message : String(error)}`;
      });
  };
  return { element, show, runId: () => current?.id };
}
