import { Option } from 'commander';
import { UsageError } from './usage-error.js';

/**
 * One table of the settings a command reads: each gives its flag, its `TILLSYNC_*` variable, its help line
 * and how its text is checked, so flags, environment and `--help` never disagree.
 */
export interface Setting<T> {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly parse: (text: string, name: string) => T;
}

export const integer =
  (min: number, max: number) =>
  (text: string, name: string): number => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) {
      throw new UsageError(`${name} must be a whole number from ${min} to ${max}, not "${text}"`);
    }
    return value;
  };

export const text = (value: string): string => value;

/** A switch: its flag alone turns it on; its variable is `true`/`false` (or `1`/`0`, `yes`/`no`). */
export const onOff = (value: string, name: string): boolean => {
  const normal = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(normal)) return true;
  if (['false', '0', 'no'].includes(normal)) return false;
  throw new UsageError(`${name} must be true or false, not "${value}"`);
};

/** A commander option for a setting; the variable is named in the help. */
export function optionFor(setting: Setting<unknown>): Option {
  return new Option(setting.flag, `${setting.description} (env ${setting.env})`);
}

/** The setting's value from its flag, else its variable, else undefined; checked with its parser. */
export function readSetting<T>(setting: Setting<T>, flags: Record<string, unknown>): T | undefined {
  const key = camelKey(setting.flag);
  const fromFlag = flags[key];
  if (typeof fromFlag === 'string') return setting.parse(fromFlag, `--${flagName(setting.flag)}`);
  // A switch's flag (no value) is given as true.
  if (fromFlag === true) return setting.parse('true', `--${flagName(setting.flag)}`);
  const fromEnv = process.env[setting.env];
  if (fromEnv !== undefined && fromEnv !== '') return setting.parse(fromEnv, setting.env);
  return undefined;
}

function flagName(flag: string): string {
  return /--([a-z0-9-]+)/.exec(flag)?.[1] ?? flag;
}

function camelKey(flag: string): string {
  return flagName(flag).replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}
