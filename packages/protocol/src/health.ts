import { Type, type Static } from '@sinclair/typebox';

export const HealthResponse = Type.Object({
  ok: Type.Literal(true),
  serverTime: Type.String(),
  protocol: Type.Integer({ minimum: 1 }),
});
export type HealthResponse = Static<typeof HealthResponse>;
