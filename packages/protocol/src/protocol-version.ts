/**
 * The version of the wire contract (PROTOCOL.md), answered by `GET /api/sync/health`.
 *
 * History:
 * - 1: the first contract: push, pull with opaque cursors and checksums, schema, pairing and tokens.
 * - 2: merges per column: an upsert of a row that exists may carry only the columns it set, a change may
 *   carry `base`, `applied` may carry `current`, a delete of a row still referenced through a required
 *   reference is rejected. A protocol-1 push (whole rows, no `base`) is still accepted.
 */
export const PROTOCOL_VERSION = 2;
