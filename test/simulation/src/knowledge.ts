/**
 * What each device had received of each row when it wrote it, as the world saw it happen: the oracle of
 * PROTOCOL.md §5's "a write made after its writer had received the earlier value", kept apart from the
 * product's own account of it (the `base` a device sends), so that a wrong base cannot explain itself away.
 *
 * Events are numbered in the order they happen in the one thread the world runs in:
 * - a receipt: a pull page, or a push's answer carrying the row as stored (`current`), returned to the
 *   device: after it, the device may know the row's state at that stamp (it may also crash before applying
 *   it; the oracle then credits the device with more than it knew, which can only hide a conflict, never
 *   invent one);
 * - a write: one the simulation made on the device's file (the workload's, or one made while a request is on
 *   the wire), read back from the capture log with its stamp;
 * - a send: a push request leaving the device, with the rows it carries.
 *
 * The knowledge behind a pushed change is the device's receipts before the last write that the change
 * carries; where that write is not the simulation's (the sync's own: a row written whole again, a delete it
 * noticed; or a shop program's, brought in by the bridge), before the push was sent. Either way no earlier
 * than the truth: the device's pending writes of a row go with the base of the first of them.
 */

/** The rows of one device: per row key, its events in order. */
type RowEvents = Map<string, DeviceRowEvent[]>;

interface DeviceRowEvent {
  readonly kind: 'received' | 'wrote' | 'sent';
  readonly at: number;
  /** The row's stamp received, or the write's; none for a send. */
  readonly stamp: string | null;
}

export class DeviceKnowledge {
  #clock = 0;
  readonly #devices = new Map<number, RowEvents>();

  /** The number of the next event: what a send returns, to be given back to {@link knownWhenWritten}. */
  now(): number {
    return this.#clock;
  }

  /** The device was handed the row as the server stores it, at `stamp` (a pull page, a push's `current`). */
  received(deviceIndex: number, rowKey: string, stamp: string): void {
    this.#add(deviceIndex, rowKey, 'received', stamp);
  }

  /** The device wrote the row (a write the simulation made on its file), stamped `stamp`. */
  wrote(deviceIndex: number, rowKey: string, stamp: string): void {
    this.#add(deviceIndex, rowKey, 'wrote', stamp);
  }

  /** A push of the device carrying these rows left it; answers the event's number. */
  sent(deviceIndex: number, rowKeys: Iterable<string>): number {
    const at = this.#clock;
    for (const rowKey of rowKeys) this.#add(deviceIndex, rowKey, 'sent', null, at);
    this.#clock = at + 1;
    return at;
  }

  /**
   * The largest stamp of the row the device had received when it made the write that a change stamped
   * `stamp`, sent at event `sentAt`, carries last; undefined when it had received none. That write is the
   * simulation's latest write of the row stamped at most `stamp` after the device's previous push of the row
   * was sent and before this one; with none such, the push's sending stands for it.
   */
  knownWhenWritten(deviceIndex: number, rowKey: string, stamp: string, sentAt: number): string | undefined {
    const events = this.#devices.get(deviceIndex)?.get(rowKey) ?? [];
    let previousSend = -1;
    for (const event of events)
      if (event.kind === 'sent' && event.at < sentAt && event.at > previousSend) previousSend = event.at;
    let writtenAt = sentAt;
    for (const event of events) {
      if (event.kind !== 'wrote' || event.at <= previousSend || event.at >= sentAt) continue;
      if (event.stamp !== null && event.stamp <= stamp) writtenAt = event.at;
    }
    let known: string | undefined;
    for (const event of events) {
      if (event.kind !== 'received' || event.at >= writtenAt || event.stamp === null) continue;
      if (known === undefined || event.stamp > known) known = event.stamp;
    }
    return known;
  }

  #add(
    deviceIndex: number,
    rowKey: string,
    kind: DeviceRowEvent['kind'],
    stamp: string | null,
    at?: number,
  ): void {
    let rows = this.#devices.get(deviceIndex);
    if (!rows) this.#devices.set(deviceIndex, (rows = new Map<string, DeviceRowEvent[]>()));
    let events = rows.get(rowKey);
    if (!events) rows.set(rowKey, (events = []));
    events.push({ kind, at: at ?? this.#clock++, stamp });
  }
}
