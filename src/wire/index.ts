// The wire layer in one import: types, encode/decode, matching, raw sockets and the Wire.
export * from './types.js';
export * from './segment.js';
export * from './flags.js';
export * from './seq.js';
export * from './pcap.js';
export * from './pcapng.js';
export * from './match.js';
export * from './addr.js';
export * from './bpf.js';
export * from './netns.js';
export * from './sender.js';
export * from './capture.js';
export * from './wire.js';
export * from './crafted.js';
