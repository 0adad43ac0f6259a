export * from './errors.js';
export * from './serial-pattern.js';
export * from './unit-csv.js';
