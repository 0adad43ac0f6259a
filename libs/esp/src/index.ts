export type { LineSignals, Transport } from './transport.js';
