/**
 * The simulation's only source of chance: mulberry32, a small generator that replays the same numbers for
 * the same seed. Nothing in a run may use `Math.random` or the wall clock to decide anything, or a failing
 * seed would not replay.
 */
export class SeededRandom {
  #state: number;
  #ids = 0;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, below). */
  below(below: number): number {
    return Math.floor(this.next() * below);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.below(items.length)];
  }

  /** Picks a key of `weights` with a chance proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return (entries[entries.length - 1] as [K, number])[0];
  }

  /** A UUIDv7-shaped id made from the generator, so a seed replays with the same ids. */
  id(): string {
    this.#ids += 1;
    const hex = Array.from({ length: 15 }, () => this.below(16).toString(16)).join('');
    const count = this.#ids.toString(16).padStart(8, '0');
    return `0190${count}-${hex.slice(0, 4)}-7${hex.slice(4, 7)}-8${hex.slice(7, 10)}-${hex.slice(3, 15)}`;
  }

  /**
   * A random UUIDv4, shaped as `crypto.randomUUID()` makes them (what any program writing the device's
   * tables may use), but drawn from the generator, so a seed replays with the same ids. They sort in no
   * order of creation.
   */
  uuid4(): string {
    const hex = Array.from({ length: 30 }, () => this.below(16).toString(16)).join('');
    const variant = '89ab'[this.below(4)] as string;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(12, 15)}-${variant}${hex.slice(15, 18)}-${hex.slice(18, 30)}`;
  }
}
