import type { Command } from 'commander';

/** `tillsync serve` and `tillsync admin`: the cloud side (PROTOCOL.md §4). */
export function registerServerCommands(program: Command): void {
  void program;
}
