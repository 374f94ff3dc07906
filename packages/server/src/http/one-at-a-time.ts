export { OneAtATime } from '../storage/one-at-a-time.js';
