/**
 * The version of the wire contract (PROTOCOL.md), answered by `GET /api/sync/health`.
 *
 * History:
 * - 1: the first contract: push, pull with opaque cursors and checksums, schema, pairing and tokens.
 * - 2: merges per column: an upsert of a row that exists may carry only the columns it set, a change may
 *   carry `base`, `applied` may carry `current`, a delete of a row still referenced through a required
 *   reference is rejected. A protocol-1 push (whole rows, no `base`) is still accepted.
 *   Stores (PROTOCOL.md §7) belong to protocol 2 as well: a table's `scope` and unique rules over several columns in the schema, a
 *   pull carries the tenant's rows and the device's store's rows only (and `storeId`), `{"op": "evict"}` on
 *   pull, the `OUT_OF_SCOPE` rejection, the owner's stores calls, devices with a `storeId`. Protocol-2
 *   devices of a tenant whose schema has no per-store table see no difference.
 */
export const PROTOCOL_VERSION = 2;
