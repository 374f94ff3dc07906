import { Type, type Static } from '@sinclair/typebox';

/**
 * `GET` and `PUT /api/demo/cloud` (owner; `tillsync demo` only): whether the demo's devices reach the cloud.
 * The demo routes them through a link it can cut, so the owner watches pills go red, sales pile up on the
 * tills, and everything catch up when the cloud is back.
 */
export const DemoCloudState = Type.Object({
  /** Whether the devices reach the cloud (always, outside the demo). */
  online: Type.Boolean(),
  /** Whether this server has the switch: `tillsync demo` only. */
  switchable: Type.Boolean(),
});
export type DemoCloudState = Static<typeof DemoCloudState>;

/** `PUT /api/demo/cloud`. */
export const DemoCloudRequest = Type.Object({ online: Type.Boolean() }, { additionalProperties: false });
export type DemoCloudRequest = Static<typeof DemoCloudRequest>;
