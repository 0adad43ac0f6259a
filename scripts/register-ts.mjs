// `node --import ./scripts/register-ts.mjs file.ts` runs TypeScript sources directly.
import { register } from 'node:module';
register('./ts-hooks.mjs', import.meta.url);
