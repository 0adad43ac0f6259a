export default async function globalTeardown() {
  const { teardown } = await import('./services-lifecycle.ts');
  await teardown();
}
