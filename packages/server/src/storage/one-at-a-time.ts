/**
 * Runs the work given for one key one at a time, in the order given; work for other keys runs alongside.
 * The pushes and sync job writes of one tenant wait here, in memory, rather than each on a database
 * connection blocked on the tenant's row lock: a connection waiting on a lock is one fewer for every other
 * call, pulls included.
 */
export class OneAtATime {
  /** The last work queued per key, settled or not; a key leaves when its last work settles. */
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
