import { integer, text, type Setting } from './settings.js';

/**
 * The settings of `tillsync device`: flags, `TILLSYNC_*` variables and help from one table. The server's URL
 * is checked when the command runs (`device-run.ts`), so that registering the commands loads no client code.
 */
export const DEVICE_SETTINGS = {
  server: {
    flag: '--server <url>',
    env: 'TILLSYNC_SERVER_URL',
    description:
      "the server's URL, such as http://127.0.0.1:8787 (required until the file is paired; then the one it was paired with)",
    parse: text,
  },
  db: {
    flag: '--db <file>',
    env: 'TILLSYNC_DEVICE_DB',
    description: "the device's SQLite file, created when missing (required)",
    parse: text,
  },
  pair: {
    flag: '--pair <code>',
    env: 'TILLSYNC_PAIRING_CODE',
    description: 'a one-time pairing code from the owner: pairs the file first unless it is paired already',
    parse: text,
  },
  name: {
    flag: '--name <name>',
    env: 'TILLSYNC_DEVICE_NAME',
    description: "with --pair: the device's name in the owner's devices panel (default: this machine's name)",
    parse: text,
  },
  interval: {
    flag: '--interval <seconds>',
    env: 'TILLSYNC_SYNC_INTERVAL',
    description: 'seconds between sync cycles (default 30)',
    parse: integer(1, 24 * 3600),
  },
  port: {
    flag: '--port <port>',
    env: 'TILLSYNC_DEVICE_PORT',
    description: 'the port of the local API and page, on 127.0.0.1 only (default 8788; 0 picks a free one)',
    parse: integer(0, 65535),
  },
} satisfies Record<string, Setting<unknown>>;

export interface PairFlags {
  readonly server: string;
  readonly db: string;
  readonly code: string;
  readonly name?: string;
}

export interface SyncFlags {
  readonly db: string;
  readonly pullOnly?: boolean;
  readonly discardLocal?: boolean;
  readonly progress: string;
}
