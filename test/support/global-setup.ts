// Placeholder replaced by the service harness (real redis-server + PostgreSQL).
export default function globalSetup(): void {}
