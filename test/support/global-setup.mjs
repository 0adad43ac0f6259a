// Jest loads global set-up outside its module transform, so the TypeScript
// sources are run through the same swc hooks the CLI uses.
import { register } from 'node:module';

register('../../scripts/ts-hooks.mjs', import.meta.url);

export default async function globalSetup() {
  const { setup } = await import('./services-lifecycle.ts');
  await setup();
}
