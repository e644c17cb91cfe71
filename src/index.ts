// The public API (package root 'tcplab'): the wire layer (crafted segments, the scripted endpoint, captures,
// pcap), the testbed (namespaces, links, sysctls) and the lab runner. Subpaths give each layer whole:
// 'tcplab/wire', 'tcplab/testbed', 'tcplab/inspect', 'tcplab/lab', 'tcplab/labs'. See docs/api.md.
export * from './wire/index.js';
export { Testbed, NetnsHost, cleanLeftovers, isSafe, assertSafe, PREFIX, type TestbedOptions, type Link, type Ghost, type Host, type SocketEntry } from './testbed/index.js';
export { readCapture, inspectFile, inspectToJson, analyze, CaptureFormatError, type CaptureFile, type CaptureFrame, type InspectReport } from './inspect/index.js';
export { toJson, renderText, type ReportJson } from './report/index.js';
export { runLab, localStack, type Lab, type LabResult, type RunOptions, type Verdict, type StackInfo } from './lab/index.js';
export { allLabs } from '../labs/index.js';
