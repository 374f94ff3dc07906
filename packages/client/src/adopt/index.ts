/** Adopting a shop program's existing database: attach, detach, and the bridge the device agent runs. */
export {
  attachLegacyDatabase,
  detachLegacyDatabase,
  generateAdoptMap,
  LegacyBridgeRunner,
  readLegacyStatus,
  type AttachedTable,
  type AttachOptions,
  type GenerateMapOptions,
  type AttachResult,
  type DetachOptions,
  type DetachResult,
  type LegacyBridgeRunnerOptions,
  type LegacyStatus,
} from './legacy-attachment.js';
export type { LegacyRefusal } from './device-bookkeeping.js';
export type { GeneratedAdoptFiles } from './generate-map.js';
export type { KeyStrategy } from './adopt-plan.js';
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
