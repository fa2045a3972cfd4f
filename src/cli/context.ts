import type { Config } from '../config.js';
import type { CommandName, Values } from './args.js';
import type { Io } from './output.js';

/** What every command gets: where to write, the validated settings and its parsed arguments. */
export interface CommandContext {
  io: Io;
  cfg: Config;
  /** --json: one JSON document on stdout, nothing else there. */
  json: boolean;
  verbose: boolean;
  values: Values;
  positionals: string[];
  command: CommandName;
}
