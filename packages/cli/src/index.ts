export { main, buildProgram } from './main.js';
export { UsageError } from './usage-error.js';
export {
  startDemo,
  CHAIN_DEMO_SECOND_STORE,
  DEMO_OWNER,
  type DemoOptions,
  type DemoStore,
  type RunningDemo,
} from './demo-command.js';
export { startDeviceAgent, type DeviceAgent, type DeviceAgentOptions } from './device-agent.js';
