export * from './error-codes.js';
export * from './queues.js';
export * from './flash-options.js';
export * from './agent-messages.js';
export * from './agent-api.js';
export * from './api-views.js';
export * from './http-errors.js';
export * from './ids.js';
