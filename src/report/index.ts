// The reporters (package subpath 'tcplab/report'): the stable JSON (json.ts), text, TAP and HTML over a
// lab's results, and inspect's JSON.
export { toJson, REPORT_SCHEMA, type ReportJson, type LabJson, type CaseJson, type CheckJson, type NoteJson } from './json.js';
export { renderText } from './text.js';
export { renderHtml } from './html.js';
export { renderTap } from './tap.js';
export { renderKtap } from './ktap.js';
export { EXPLAIN, explain, explainLine, type ExplainId, type Explanation } from '../lab/explain.js';
export { svgLadder } from './svg-ladder.js';
