export { Testbed, type TestbedOptions, type Link, type Ghost } from './testbed.js';
export { NetnsHost, filterSockets, type Host, type HostInterface, type SysctlApi, type SocketFilter, type Impairment } from './host.js';
export { type ImpairSpec, type ImpairMatch, type TcpFlagsMatch, UnsupportedError } from './impair.js';
export { parseCounters, delta, changed, counter, type Counters, type CounterGroup } from './counters.js';
export { parseSs, parseSsDuration, parseEndpoint, type SocketEntry, type SocketTimer, type TcpState, type SocketEndpoint } from './ss.js';
export { cleanLeftovers, listNamespaces, listRootLinks, listRootNftTables, type CleanReport, type CleanOptions } from './clean.js';
export { isSafe, isSafeV4, isSafeV6, assertSafe } from './safety.js';
export { PREFIX, RUN_DIR } from './names.js';
