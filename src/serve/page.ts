// The one page `tcplab serve` serves: inline style and script (allowed by a per-response nonce), no
// external assets, nothing fetched but its own server's event stream and posts. Text from the server is
// set with textContent; only the ladder, which svgLadder() builds with every string escaped, is markup.
import { BASE_CSS, esc } from '../report/html-page.js';
import { SVG_CSS } from '../report/svg-ladder.js';

const CSS = `
body { font-size: 19px; }
header.top select, header.top button { font-size: 17px; padding: 6px 10px; border-radius: 6px; border: 1px solid #c5cae9; }
header.top button { background: #fff; color: #1a237e; font-weight: 600; cursor: pointer; }
header.top button:disabled, #next:disabled { opacity: .45; cursor: default; }
.controls { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-left: auto; }
section.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 22px; margin: 16px 0; }
#story h2 { margin: 0 0 4px; } #story .case { font-weight: 600; color: #283593; }
#story .rfcs, .reason .rules { color: var(--muted); font-size: 15px; }
#stepbox { border-left: 8px solid #1a237e; }
#stepbox.waiting { border-left-color: #f9a825; background: #fffdf3; }
#stepbox .text { font-size: 23px; font-weight: 600; margin: 4px 0 8px; }
#next { font-size: 22px; padding: 10px 28px; border-radius: 8px; border: none; background: #1a237e; color: #fff; cursor: pointer; }
.reason { margin: 6px 0; } .reason b { color: #4a148c; }
ol#steps { margin: 4px 0; padding-left: 28px; color: #37474f; }
figure.ladder { margin: 0; overflow-x: auto; }
#ladder:empty::before { content: "the ladder appears here as packets are captured"; color: var(--muted); font-style: italic; }
ul#checks { list-style: none; padding: 0; margin: 0; } ul#checks li { padding: 6px 0; border-bottom: 1px solid var(--line); }
ul#checks .obs { color: var(--muted); font-size: 15px; }
#status { font-size: 15px; opacity: .9; }
details#log pre { max-height: 320px; overflow: auto; font-size: 13px; background: #f6f8fa; padding: 8px; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; } @media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
` + SVG_CSS;

/** The page script: plain ES2020, no modules, no eval. */
const SCRIPT = String.raw`
'use strict';
const $ = (id) => document.getElementById(id);
const token = document.body.dataset.token;
let labs = [];
let source;
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; }
function status(text) { $('status').textContent = text; }
async function post(path, body) {
  try {
    const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Tcplab-Token': token }, body: JSON.stringify(body || {}) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) status(path.slice(1) + ': ' + (j.error || r.status));
    return r.ok;
  } catch (e) { status(path.slice(1) + ': the server is gone'); return false; }
}
function fillCases() {
  const lab = labs.find((l) => l.id === $('lab').value);
  const sel = $('case');
  sel.replaceChildren();
  sel.append(new Option('all cases', ''));
  for (const c of lab ? lab.cases : []) { const o = new Option(c.id + (c.unsupported ? ' (cannot run here)' : ''), c.id); o.disabled = !!c.unsupported; o.title = c.title; sel.append(o); }
}
function setRunning(on) { $('run').disabled = on; $('lab').disabled = on; $('case').disabled = on; $('stop').disabled = !on; if (!on) $('next').disabled = true; }
function drawStory(s) {
  const box = $('story');
  box.replaceChildren();
  if (!s) { box.append(el('p', 'rfcs', 'choose a lab and a case, then run it')); return; }
  box.append(el('h2', '', s.lab + ': ' + s.title), el('p', 'case', 'case ' + s.case + ': ' + s.caseTitle), el('p', '', s.summary), el('p', 'rfcs', s.rfcs.join(' · ')));
}
function drawStep(s) {
  const box = $('stepbox');
  box.classList.toggle('waiting', !!(s && s.waiting));
  $('steptitle').textContent = !s ? 'next step' : s.waiting ? 'next: step ' + s.n : 'running step ' + s.n;
  $('steptext').textContent = s ? s.text : '';
  const rs = $('reasons');
  rs.replaceChildren();
  for (const r of s ? s.reasons : []) { const d = el('div', 'reason'); d.append(el('b', '', r.title + ': '), document.createTextNode(r.text + ' '), el('span', 'rules', r.rules.length ? '[' + r.rules.join('; ') + ']' : '')); rs.append(d); }
  $('next').disabled = !(s && s.waiting);
}
function drawSteps(list) { const ol = $('steps'); ol.replaceChildren(...list.map((t) => el('li', '', t))); }
function drawLadder(l) { $('ladder').innerHTML = l && l.svg ? l.svg : ''; $('pktcount').textContent = l ? l.packets + ' packet(s)' : ''; }
function addCheck(k) {
  const li = el('li', 'check ' + k.verdict);
  li.append(el('span', 'badge ' + k.verdict, k.verdict), document.createTextNode(' ' + k.title + ' '), el('div', 'obs', 'observed ' + JSON.stringify(k.observed) + ', expected ' + k.expected + ' (' + k.rule + ')' + (k.explain ? ' — ' + k.explain : '')));
  $('checks').append(li);
}
function drawSysctls(s) {
  const t = $('sysctls');
  t.replaceChildren();
  const e = Object.entries(s || {});
  if (!e.length) { t.append(el('tr', '', 'none yet')); return; }
  for (const [k, v] of e) { const tr = el('tr'); tr.append(el('td', 'mono', k), el('td', 'mono', v)); t.append(tr); }
}
function log(line) { const p = $('logtext'); p.textContent += line + '\n'; p.scrollTop = p.scrollHeight; }
function hello(h) {
  labs = h.labs;
  $('target').textContent = 'on ' + h.target;
  const sel = $('lab');
  sel.replaceChildren();
  for (const l of labs) { const o = new Option(l.id + (l.slow ? ' (slow)' : '') + (l.unsupported ? ' (cannot run here)' : ''), l.id); o.disabled = !!l.unsupported; o.title = l.title; sel.append(o); }
  const first = labs.find((l) => !l.unsupported);
  if (first) sel.value = first.id;
  fillCases();
  const s = h.state;
  drawStory(s.story); drawStep(s.step); drawSteps(s.steps); drawLadder(s.ladder); drawSysctls(s.sysctls);
  $('checks').replaceChildren(); for (const k of s.checks) addCheck(k);
  $('logtext').textContent = s.log.join('\n') + (s.log.length ? '\n' : '');
  $('verdict').replaceChildren(); if (s.verdict) $('verdict').append(el('span', 'badge ' + s.verdict, s.verdict));
  setRunning(s.running);
  status(s.running ? 'running' : 'ready');
}
function connect() {
  source = new EventSource('/events');
  const on = (name, fn) => source.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  on('hello', hello);
  on('run', (r) => { drawStory(null); drawStep(null); drawSteps([]); drawLadder(null); drawSysctls({}); $('checks').replaceChildren(); $('verdict').replaceChildren(); setRunning(true); status('running ' + r.lab + (r.case ? ' / ' + r.case : '')); });
  on('story', (s) => { drawStory(s); drawSteps([]); });
  on('ladder', drawLadder);
  on('step', (s) => { drawStep(s); if (!s.waiting) { const li = el('li', '', s.text); $('steps').append(li); } });
  on('check', addCheck);
  on('sysctls', drawSysctls);
  on('caseEnd', (c) => { drawStep(null); status('case ' + c.id + ': ' + c.verdict + (c.error ? ' — ' + c.error : '')); });
  on('log', log);
  on('done', (d) => { setRunning(false); $('verdict').replaceChildren(el('span', 'badge ' + d.verdict, d.verdict)); status('done: ' + d.verdict + (d.interrupted ? ' (stopped)' : '') + (d.error ? ' — ' + d.error : '')); });
  on('bye', (b) => { source.close(); setRunning(false); $('run').disabled = true; status('tcplab serve stopped: ' + b.why); });
}
$('lab').addEventListener('change', fillCases);
$('run').addEventListener('click', () => post('/run', { lab: $('lab').value, case: $('case').value }));
$('next').addEventListener('click', () => { $('next').disabled = true; post('/next'); });
$('stop').addEventListener('click', () => post('/stop'));
connect();
`;

export function classroomPage(o: { nonce: string; token: string; target: string }): string {
  const n = esc(o.nonce);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tcplab classroom</title><style nonce="${n}">${BASE_CSS}${CSS}</style></head>
<body data-token="${esc(o.token)}">
<header class="top"><h1>tcplab classroom</h1><span class="meta" id="target">on ${esc(o.target)}</span><span id="verdict"></span>
<div class="controls"><label>lab <select id="lab"></select></label><label>case <select id="case"></select></label>
<button id="run" type="button">run</button><button id="stop" type="button" disabled>stop</button><span id="status">connecting…</span></div></header>
<main>
<section class="panel" id="story"></section>
<section class="panel" id="stepbox"><div class="rule" id="steptitle">next step</div><div class="text" id="steptext"></div><div id="reasons"></div>
<button id="next" type="button" disabled>next ▶</button></section>
<section class="panel"><div class="rule">the ladder, as the kernel answers · <span id="pktcount"></span></div><figure class="ladder" id="ladder"></figure></section>
<div class="cols"><section class="panel"><div class="rule">steps so far</div><ol id="steps"></ol><div class="rule">verdicts</div><ul id="checks"></ul></section>
<section class="panel"><div class="rule">sysctls in force</div><table id="sysctls"></table>
<details id="log"><summary>progress log</summary><pre id="logtext"></pre></details></section></div>
</main><script nonce="${n}">${SCRIPT}</script></body></html>
`;
}
