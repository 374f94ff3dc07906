/**
 * The version of the wire contract (PROTOCOL.md), answered by `GET /api/sync/health`.
 *
 * History:
 * - 1: the first contract: push, pull with opaque cursors and checksums, schema, pairing and tokens.
 */
export const PROTOCOL_VERSION = 1;
