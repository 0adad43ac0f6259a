/** Production campaigns: live counters per campaign, and the per-unit records to export. */
import { api, ApiRequestError } from './api.js';
import { h, mount } from './dom.js';
import type { ViewContext } from './main.js';

/** #/campaigns and #/campaigns/:id */
export async function campaignsView(ctx: ViewContext): Promise<void> {
  try {
    await api('/campaigns?limit=1', { signal: ctx.signal });
  } catch (error) {
    if (error instanceof ApiRequestError && error.status === 404) {
      mount(
        ctx.root,
        h('h1', {}, 'Campaigns'),
        h('p', { class: 'empty' }, 'This api has no production campaigns yet (GET /campaigns answers 404).'),
      );
      return;
    }
    throw error;
  }
  const { campaignsPage } = await import('./campaign-pages.js');
  await campaignsPage(ctx);
}
