export * from './error-codes.js';
export * from './failure-policy.js';
export * from './queues.js';
export * from './flash-options.js';
export * from './agent-messages.js';
export * from './agent-api.js';
export * from './api-views.js';
