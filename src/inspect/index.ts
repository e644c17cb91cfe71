// inspect: read a capture (pcap or pcapng, any size, streamed), follow every connection's TIME-WAIT story
// and report findings. This index is the public face; file.ts runs the pipeline.
export { CaptureFormatError, readCapture, parsePcapng, decodableFrame } from './capture.js';
export type { CaptureFile, CaptureFrame } from './capture.js';
export { analyze, findingExplanation } from './analyze.js';
export type { Connection, Finding, FindingKind, Incarnation, InspectPacket, RateReport, TcpState } from './analyze.js';
export type { FindingExample, FindingGroup } from './findings.js';
export { renderInspect, type RenderInspectOptions } from './render.js';
export { annotate, type Annotations } from './annotate.js';
export { inspectToJson, INSPECT_SCHEMA, type InspectJson } from './json.js';
export { inspectFile, type InspectOptions, type InspectReport } from './file.js';
