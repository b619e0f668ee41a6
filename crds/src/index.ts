export * from './upstream.js';
