/** Injection tokens for the infrastructure objects created before Nest starts. */
export const API_CONFIG = Symbol('API_CONFIG');
export const DATABASE = Symbol('DATABASE');
export const PRISMA = Symbol('PRISMA');
export const REDIS = Symbol('REDIS');
/** The farm's Redis URL as agents reach it (handed to them at registration). */
export const AGENT_QUEUE_URL = Symbol('AGENT_QUEUE_URL');
