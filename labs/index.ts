// Every lab the CLI knows, in the order `tcplab list` shows them.
import type { Lab } from '../src/lab/types.js';
import { reuseLab } from './reuse.js';
import { timewaitSynLab } from './timewait-syn.js';
import { rfc1337Lab } from './rfc1337.js';
import { lingerLab } from './linger.js';
import { abortLab } from './abort.js';
import { lastackLab } from './lastack.js';
import { lastackSynLab } from './lastack-syn.js';
import { duplicateLab } from './duplicate.js';
import { pawsLab } from './paws.js';
import { exhaustionLab } from './exhaustion.js';
import { keepaliveLab } from './keepalive.js';
import { proxyLab } from './proxy.js';
import { twlenLab } from './twlen.js';
import { reconnectLab } from './reconnect.js';
import { twTimerLab } from './tw-timer.js';
import { ratelimitLab } from './ratelimit.js';
import { synRetriesLab } from './syn-retries.js';
import { twReuseDelayLab } from './tw-reuse-delay.js';

export const allLabs: readonly Lab[] = [reuseLab, timewaitSynLab, rfc1337Lab, lingerLab, abortLab, lastackLab, lastackSynLab, duplicateLab, pawsLab, exhaustionLab, keepaliveLab, proxyLab, twlenLab, reconnectLab, twTimerLab, ratelimitLab, synRetriesLab, twReuseDelayLab];
