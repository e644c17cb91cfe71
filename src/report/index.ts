// Reporters over the stable report JSON (toJson() from src/lab/report.ts) and inspect's JSON.
export { renderHtml } from './html.js';
export { renderTap, type ReportJson } from './tap.js';
export { EXPLAIN, explain, explainLine, type ExplainId, type Explanation } from '../lab/explain.js';
export { svgLadder } from './svg-ladder.js';
