export { main, buildProgram } from './main.js';
export { UsageError } from './usage-error.js';
