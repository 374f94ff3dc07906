import { describeRetentionAndSchedules } from './retention-and-schedules.js';

describeRetentionAndSchedules({ postgres: true });
