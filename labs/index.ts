// Every lab the CLI knows, in the order `tcplab list` shows them.
import type { Lab } from '../src/lab/types.js';

export const allLabs: readonly Lab[] = [];
