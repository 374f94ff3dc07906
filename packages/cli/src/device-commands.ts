import type { Command } from 'commander';

/** `tillsync pair`, `sync` and `status`: the device side (PROTOCOL.md §4). */
export function registerDeviceCommands(program: Command): void {
  void program;
}
