/** Adopting a shop program's existing database: attach, detach, and the bridge the device agent runs. */
export {
  attachLegacyDatabase,
  detachLegacyDatabase,
  LegacyBridgeRunner,
  type AttachOptions,
  type AttachResult,
  type DetachOptions,
  type DetachResult,
  type LegacyBridgeRunnerOptions,
} from './legacy-attachment.js';
export { withLegacyBridge } from './bridged-client.js';
export {
  AdoptMapError,
  parseAdoptMap,
  type AdoptMap,
  type ColumnBinding,
  type Conversion,
  type LegacyLocation,
  type TableBinding,
} from './adopt-map.js';
