export type { SimPortHandle } from './port.js';
