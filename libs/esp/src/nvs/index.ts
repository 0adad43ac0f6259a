export * from './format.js';
export * from './errors.js';
export * from './recipe.js';
export * from './generate.js';
export * from './read.js';
export * from './csv.js';
