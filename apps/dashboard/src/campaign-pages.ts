/** Campaign pages, loaded only when the api offers campaigns. */
import { h, mount } from './dom.js';
import type { ViewContext } from './main.js';

/** Placeholder until the campaign routes land. */
export function campaignsPage(ctx: ViewContext): Promise<void> {
  mount(ctx.root, h('h1', {}, 'Campaigns'));
  return Promise.resolve();
}
