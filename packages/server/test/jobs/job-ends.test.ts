import { describeJobEnds } from './job-ends.js';

describeJobEnds();
