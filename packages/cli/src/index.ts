export { main, buildProgram } from './main.js';
export { UsageError } from './usage-error.js';
export { startDemo, DEMO_OWNER, type DemoOptions, type RunningDemo } from './demo-command.js';
export { startDeviceAgent, type DeviceAgent, type DeviceAgentOptions } from './device-agent.js';
