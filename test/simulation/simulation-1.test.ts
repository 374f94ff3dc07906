import { simulationSuite } from './suite.js';

// Seeds are split over files so that vitest runs them on every core.
simulationSuite(1_000, 75);
