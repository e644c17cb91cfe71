// One self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched) for a lab report
// (schema tcplab.report/1) or an inspect report (tcplab.inspect/1): readable on a projector.
import type { InspectJson } from '../inspect/index.js';
import { analyze, findingExplanation, type InspectPacket } from '../inspect/analyze.js';
import { parseFlags } from '../wire/flags.js';
import type { Segment, TcpOption } from '../wire/types.js';
import { badge, htmlPage } from './html-page.js';
import { esc, svgLadder, SVG_CSS, type SvgNote } from './svg-ladder.js';
import type { ReportJson } from './json.js';
import { humanOffset, humanTime } from './time.js';

// The report's own rules; the shared look (colours, header, tables, badges) is BASE_CSS.
const CSS = `
.summary { font-size: 18px; color: #29323c; margin: 6px 0 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 15px; margin: 8px 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.badge.finding { background: #bf360c; } .badge.low { background: var(--pass); } .badge.medium { background: #f9a825; color: #222; } .badge.high, .badge.exhausted { background: var(--error); }
ol.steps { padding-left: 26px; margin: 8px 0 12px; } ol.steps li { margin: 2px 0; }
figure.ladder { margin: 12px 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
figure.ladder figcaption { font-size: 14px; color: var(--muted); padding: 6px 12px; border-top: 1px solid var(--line); }
article.check { border-left: 6px solid var(--line); padding: 8px 14px; margin: 10px 0; background: #fafbfc; border-radius: 0 8px 8px 0; }
article.check.PASS { border-color: var(--pass); } article.check.DIFFERS { border-color: var(--differs); background: #fff8f2; } article.check.ERROR { border-color: var(--error); background: #fff5f5; }
article.check h4 { margin: 0 0 4px; font-size: 17.5px; }
article.check p { margin: 3px 0; }
.explain { font-size: 16px; }
details { margin: 6px 0 2px; } summary { cursor: pointer; color: #1a237e; font-size: 15px; }
.error-box { color: var(--error); font-weight: 600; }
article.finding { border-color: #bf360c; background: #fff8f2; }
article.finding .back { font-size: 15px; }
` + SVG_CSS;

const page = (title: string, verdict: string, meta: string, body: string) => htmlPage({ title, verdict, meta, body, css: CSS });

type Lab = ReportJson['labs'][number];
type Case = Lab['cases'][number];
type Check = Case['checks'][number];

function evidence(k: Check): string {
  const e = k.evidence;
  const ctr = Object.entries(e.counters);
  const n = `${e.packets.length} packet(s), ${e.sockets.length} socket(s), ${ctr.length} counter(s)`;
  const parts: string[] = [];
  if (e.packets.length) {
    parts.push('<table class="packets"><tr><th>t</th><th>from</th><th>to</th><th>flags</th><th>seq</th><th>ack</th><th>win</th><th>len</th><th>options</th></tr>' +
      e.packets.map((p) => `<tr class="mono"><td>${humanOffset(p.tNs)}</td><td>${esc(p.src)}</td><td>${esc(p.dst)}</td><td>${esc(p.flags)}</td><td>${p.seq}</td><td>${p.ack}</td><td>${p.win}</td><td>${p.len}</td><td>${esc(p.options)}</td></tr>`).join('') + '</table>');
  }
  if (e.sockets.length) parts.push(`<p>sockets:</p><pre class="mono">${esc(e.sockets.join('\n'))}</pre>`);
  if (ctr.length) parts.push('<table class="counters"><tr><th>counter</th><th>change</th></tr>' + ctr.map(([c, v]) => `<tr><td class="mono">${esc(c)}</td><td>${v >= 0 ? '+' : ''}${v}</td></tr>`).join('') + '</table>');
  const open = k.verdict === 'PASS' ? '' : ' open';
  return `<details${open}><summary>evidence: ${n}</summary>${parts.join('') || '<p>none</p>'}</details>`;
}

function checkHtml(k: Check, prefix: string): string {
  return `<article class="check ${esc(k.verdict)}" id="check-${esc(prefix)}-${esc(k.id)}"><h4>${badge(k.verdict)} ${esc(k.title)}</h4>` +
    `<p>observed <code>${esc(JSON.stringify(k.observed))}</code>, expected <code>${esc(k.expected)}</code> <span class="rule">(${esc(k.rule)})</span></p>` +
    (k.because ? `<p class="rule">expected because: ${esc(k.because)}</p>` : '') +
    (k.explain ? `<p class="explain">${esc(k.explain)}</p>` : '') +
    evidence(k) + '</article>';
}

type PacketJson = Case['packets'][number];

/** Enough of a Segment, rebuilt from the report's packet JSON, for the connection analysis. */
function segmentOf(p: PacketJson): Segment | undefined {
  const split = (ep: string): [string, number] => {
    const i = ep.lastIndexOf(':');
    return [ep.slice(0, i).replace(/^\[|\]$/g, ''), Number(ep.slice(i + 1))];
  };
  let flagBits: number;
  try {
    flagBits = parseFlags(p.flags);
  } catch {
    return undefined;
  }
  const [src, sport] = split(p.src);
  const [dst, dport] = split(p.dst);
  const ts = /TS (\d+)\/(\d+)/.exec(p.options);
  const options: TcpOption[] = ts ? [{ kind: 'ts', val: Number(ts[1]), ecr: Number(ts[2]) }] : [];
  return {
    family: src.includes(':') ? 6 : 4, src, dst, sport, dport, seq: p.seq, ack: p.ack, flagBits, flags: p.flags, window: p.win, urg: 0,
    options, payload: new Uint8Array(p.len), ip: { ttl: 64, id: 0, df: true, tos: 0, flowLabel: 0 },
    checksum: { ip: 'unchecked', tcp: 'unchecked', tcpValue: 0 }, ipLength: 40 + p.len,
  };
}

interface FindingCard { id: string; kind: string; text: string; frames: number[] }

/**
 * Each side's TCP state per packet and the TIME-WAIT findings, from the case's packets: a finding is a card
 * (id `idPrefix-N`) and a marker in the ladder that links to it.
 */
function annotateJson(c: Case, idPrefix: string, columns?: Array<{ addrs: string[]; ports?: number[] }>) {
  const t0 = 1_000_000_000_000n; // any base: times are relative in the JSON
  const ps: InspectPacket[] = [];
  const index = new Map<InspectPacket, number>();
  c.packets.forEach((p, i) => {
    const seg = segmentOf(p);
    if (!seg) return;
    const ip: InspectPacket = { tsNs: t0 + BigInt(p.tNs), dir: 'in', point: p.point, segment: seg, frame: i + 1 };
    ps.push(ip);
    index.set(ip, i);
  });
  const conns = analyze(ps);
  const states: Array<[string, string] | null> = c.packets.map(() => null);
  const notes: SvgNote[] = [];
  const cards: FindingCard[] = [];
  const left = columns?.[0];
  for (const k of conns) {
    const clientLeft = !left || left.addrs.includes(k.ends[0].addr);
    for (const [p, st] of k.states) states[index.get(p as InspectPacket)!] = clientLeft ? [st[0], st[1]] : [st[1], st[0]];
    for (const f of k.findings) {
      const at = (f.packets[f.packets.length - 1]?.tsNs ?? f.tsNs) - t0 + 1n;
      const id = `${idPrefix}-${cards.length + 1}`;
      cards.push({ id, kind: f.kind, text: f.text, frames: f.packets.map((p) => (p as InspectPacket).frame ?? 0) });
      notes.push({ tNs: at.toString(), text: `⚑ ${f.kind}: ${findingExplanation(f.kind).title}`, href: `#${id}` });
    }
  }
  return { packets: c.packets.map((p, i) => ({ ...p, states: states[i] })), notes, cards };
}

/** A finding's card: what it is, the rule behind it, and a link back up to its marker's ladder. */
function findingCard(f: FindingCard, ladderId: string): string {
  const e = findingExplanation(f.kind as Parameters<typeof findingExplanation>[0]);
  const frames = f.frames.filter((n) => n > 0);
  return `<article class="check finding" id="${esc(f.id)}"><h4>${badge(f.kind, 'finding')} ${esc(e.title)}</h4><p>${esc(f.text)}${frames.length ? ` <span class="rule">(packets ${frames.join(', ')})</span>` : ''}</p>` +
    `<p class="explain">${esc(e.text)}</p><p class="rule">${e.rules.map(esc).join(' · ')}</p><p class="back"><a href="#${esc(ladderId)}">↑ to the ladder</a></p></article>`;
}

function caseHtml(lab: Lab, c: Case): string {
  const out: string[] = [];
  const cid = `case-${lab.id}-${c.id}`;
  out.push(`<h3 id="${esc(cid)}">${badge(c.verdict)} ${esc(c.title)} <span class="rule">case ${esc(c.id)}, ${humanTime(c.durationMs * 1e6)}</span></h3>`);
  if (c.steps.length) out.push(`<ol class="steps">${c.steps.map((s) => `<li>${esc(s)}</li>`).join('')}</ol>`);
  const sys = Object.entries(c.sysctls);
  if (sys.length) out.push('<table class="sysctls"><tr><th>sysctl (host:name)</th><th>value</th></tr>' + sys.map(([k, v]) => `<tr><td class="mono">${esc(k)}</td><td class="mono">${esc(v)}</td></tr>`).join('') + '</table>');
  if (c.packets.length) {
    const pcap = c.pcap ? ` · pcap: <a href="${esc(c.pcap)}">${esc(c.pcap)}</a>` : '';
    // columns: not in tcplab.report/1 yet; used when the runner adds them to the case JSON.
    const columns = (c as { columns?: Array<{ label: string; addrs: string[]; ports?: number[] }> }).columns;
    const ann = annotateJson(c, `finding-${lab.id}-${c.id}`, columns);
    const notes: SvgNote[] = [...c.notes.map((n) => ({ tNs: n.tNs, who: n.who, text: n.text })), ...ann.notes];
    const findings = ann.cards.length ? `; ⚑ marks a finding: click it for its card below` : '';
    out.push(`<figure class="ladder" id="${esc(cid)}-ladder">${svgLadder(ann.packets, notes, { columns, idPrefix: `${cid}-head` })}<figcaption>${c.packets.length} packet(s), seq/ack relative to each direction's SYN; TCP state of each side (as the packets imply) beside its timeline${findings}${pcap}</figcaption></figure>`);
    out.push(...ann.cards.map((f) => findingCard(f, `${cid}-ladder`)));
  } else if (c.pcap) {
    out.push(`<p>pcap: <a href="${esc(c.pcap)}">${esc(c.pcap)}</a></p>`);
  }
  out.push(...c.checks.map((k) => checkHtml(k, `${lab.id}-${c.id}`)));
  if (c.error) out.push(`<p class="error-box">${badge('ERROR')} ${esc(c.error)}</p>`);
  return out.join('\n');
}

function labHtml(lab: Lab): string {
  const summary = (lab as { summary?: string }).summary;
  const meta: string[] = [
    `<dt>kernel</dt><dd>${esc(lab.stack.os)} ${esc(lab.stack.release)}</dd>`,
    `<dt>started</dt><dd>${esc(lab.startedAt)} (${humanTime(lab.durationMs * 1e6)})</dd>`,
  ];
  if (lab.rfcs.length) meta.push(`<dt>rules</dt><dd>${lab.rfcs.map(esc).join('<br>')}</dd>`);
  if (lab.sources.length) meta.push(`<dt>sources</dt><dd>${lab.sources.map((s) => (/^https?:\/\//.test(s) ? `<a href="${esc(s)}">${esc(s)}</a>` : esc(s))).join('<br>')}</dd>`);
  const counts = lab.cases.flatMap((c) => c.checks).reduce<Record<string, number>>((m, k) => ((m[k.verdict] = (m[k.verdict] ?? 0) + 1), m), {});
  return `<section class="lab" id="lab-${esc(lab.id)}"><h2>${badge(lab.verdict)} ${esc(lab.title)} <span class="rule">${esc(lab.id)}</span></h2>` +
    (summary ? `<p class="summary">${esc(summary)}</p>` : '') +
    `<dl class="meta">${meta.join('')}<dt>checks</dt><dd>${Object.entries(counts).map(([v, n]) => `${n} ${esc(v)}`).join(', ') || 'none'}</dd></dl>` +
    lab.cases.map((c) => caseHtml(lab, c)).join('\n') + '</section>';
}

export interface HtmlOptions {
  /** Inspect reports: draw ladders for at most this many connections, those with findings first (default 20). */
  maxLadders?: number;
  /** Inspect reports: packets per ladder (default 300), and absolute sequence numbers. */
  maxPackets?: number;
  absolute?: boolean;
}

function inspectHtml(r: InspectJson, o: HtmlOptions): string {
  const body: string[] = [];
  const start = r.startNs !== null ? new Date(Number(BigInt(r.startNs) / 1_000_000n)).toISOString() : 'empty';
  const skipped = Object.entries(r.skipped);
  body.push(`<section class="conn"><h2>${esc(r.file)}</h2><dl class="meta">` +
    `<dt>format</dt><dd>${esc(r.format)}, ${esc(r.linkTypes.join('/'))}</dd>` +
    `<dt>frames</dt><dd>${r.frames} (${r.tcpPackets} TCP${r.snapped ? `, ${r.snapped} cut by the snaplen` : ''})${skipped.length ? `; skipped ${skipped.map(([k, v]) => `${v} ${esc(k)}`).join('; ')}` : ''}</dd>` +
    `<dt>time</dt><dd>${esc(start)} + ${humanTime(r.durationNs)}</dd>` +
    `<dt>TIME-WAIT</dt><dd>${r.timeWaitMs / 1000} s assumed</dd>` +
    `<dt>connections</dt><dd>${r.connections.length}</dd><dt>findings</dt><dd>${r.findings.length}</dd></dl>`);
  if (r.rates.length) {
    body.push('<table class="rates"><tr><th>client → server</th><th>conns</th><th>avg/s</th><th>peak/s</th><th>in one TIME-WAIT</th><th>of ports</th><th>risk</th></tr>' +
      r.rates.map((x) => `<tr><td class="mono">${esc(x.client)} → ${esc(x.server)}</td><td>${x.connections}</td><td>${x.perSecAvg}</td><td>${x.perSecPeak}</td><td>${x.maxInTimeWait}</td><td>${(x.usage * 100).toFixed(2)}% of ${x.ports}</td><td>${badge(x.risk)}</td></tr><tr><td colspan="7">${esc(x.verdict)}</td></tr>`).join('') + '</table>');
  }
  if (r.findingGroups?.length) { // absent in reports saved before the aggregate
    body.push('<table class="rates"><tr><th>finding</th><th>client → server</th><th>count</th><th>connections</th><th>spread</th><th>outcomes</th><th>examples</th></tr>' +
      r.findingGroups.map((g) => `<tr><td>${badge(g.kind, 'finding')}</td><td class="mono">${esc(g.client)} → ${esc(g.server)}</td><td>${g.count}</td><td>${g.connections}</td><td>${esc(g.spread ?? '')}</td>` +
        `<td>${esc(Object.entries(g.outcomes).map(([k, v]) => `${k} ×${v}`).join(', '))}</td><td class="mono">${esc(g.examples.map((x) => `conn ${x.conn}: ${x.frames.join(',')}`).join('; '))}</td></tr>`).join('') + '</table>');
  }
  if (r.warnings?.length) body.push(`<p class="error-box">${r.warnings.map(esc).join('<br>')}</p>`);
  const ranked = [...r.connections].sort((a, b) => (b.findings.length ? 1 : 0) - (a.findings.length ? 1 : 0) || a.id - b.id);
  const drawn = new Set(ranked.slice(0, o.maxLadders ?? 20).map((c) => c.id));
  const rest = r.connections.filter((c) => !drawn.has(c.id));
  if (rest.length) {
    const shown = rest.slice(0, 1000);
    body.push(`<details><summary>${rest.length} more connection(s) without a ladder</summary><table class="rest"><tr><th>#</th><th>client → server</th><th>packets</th><th>incarnations</th><th>final states (client / server)</th></tr>` +
      shown.map((c) => { const l = c.incarnations[c.incarnations.length - 1]; return `<tr><td>${c.id}</td><td class="mono">${esc(c.client)} → ${esc(c.server)}</td><td>${c.packets.length}</td><td>${c.incarnations.length}</td><td>${l ? `${esc(l.finalStates.client)} / ${esc(l.finalStates.server)}` : ''}</td></tr>`; }).join('') +
      `</table>${rest.length > shown.length ? `<p>… and ${rest.length - shown.length} more</p>` : ''}</details>`);
  }
  body.push('</section>');
  for (const c of r.connections) {
    if (!drawn.has(c.id)) continue;
    const notes: SvgNote[] = [];
    for (const i of c.incarnations) {
      if (i.n > 1) notes.push({ tNs: i.startNs, text: `── incarnation ${i.n}${i.gapNs ? `, ${humanTime(i.gapNs)} after incarnation ${i.n - 1} closed` : ''} ──` });
    }
    c.findings.forEach((f, n) => {
      const last = c.packets.find((p) => p.frame === f.frames[f.frames.length - 1]);
      notes.push({ tNs: last ? (BigInt(last.tNs) + 1n).toString() : f.tNs, text: `⚑ ${f.kind}`, href: `#finding-${c.id}-${n + 1}` });
    });
    body.push(`<section class="conn" id="conn-${c.id}"><h2>connection ${c.id}: ${esc(c.client)} → ${esc(c.server)}</h2>` +
      '<table class="incs"><tr><th>#</th><th>start</th><th>packets</th><th>closed</th><th>client</th><th>server</th></tr>' +
      c.incarnations.map((i) => `<tr><td>${i.n}</td><td>${humanOffset(i.startNs ?? 0)}</td><td>${i.packets}</td><td>${i.closedBy ? `${esc(i.closedBy)} at ${humanOffset(i.closedAtNs ?? 0)}` : 'no'}</td><td>${esc(i.finalStates.client)}</td><td>${esc(i.finalStates.server)}</td></tr>`).join('') + '</table>' +
      `<figure class="ladder" id="conn-${c.id}-ladder">${svgLadder(c.packets, notes, { idPrefix: `conn-${c.id}-head`, labels: [`client ${c.client}`, `server ${c.server}`], maxPackets: Math.max(o.maxPackets ?? 300, c.packets.length), absolute: o.absolute })}<figcaption>${c.packets.length} of ${c.totalPackets ?? c.packets.length} packet(s) (a finding's are always drawn); state after each packet beside each timeline</figcaption></figure>` +
      c.findings.map((f, n) => {
        const e = findingExplanation(f.kind as Parameters<typeof findingExplanation>[0]);
        return `<article class="check DIFFERS" id="finding-${c.id}-${n + 1}"><h4>${badge(f.kind, 'finding')} ${esc(e.title)}</h4><p>${esc(f.text)} <span class="rule">(frames ${f.frames.join(', ')})</span></p>` +
          `<p class="explain">${esc(e.text)}</p><p class="rule">${e.rules.map(esc).join(' · ')}</p><p class="back"><a href="#conn-${c.id}-ladder">↑ to the ladder</a></p></article>`;
      }).join('') + '</section>');
  }
  const global = r.findings.filter((f) => f.conn === 0);
  if (global.length) {
    body.push('<section class="conn"><h2>across connections</h2>' + global.map((f) => {
      const e = findingExplanation(f.kind as Parameters<typeof findingExplanation>[0]);
      return `<article class="check DIFFERS"><h4>${badge(f.kind, 'finding')} ${esc(e.title)}</h4><p>${esc(f.text)}</p><p class="explain">${esc(e.text)}</p><p class="rule">${e.rules.map(esc).join(' · ')}</p></article>`;
    }).join('') + '</section>');
  }
  return page('tcplab inspect', r.findings.length ? badge(`${r.findings.length} finding(s)`, 'finding') : badge('no findings', 'PASS'), esc(r.file), body.join('\n'));
}

/** The whole report as one HTML document. Accepts toJson() output or inspectToJson() output. */
export function renderHtml(json: ReportJson | InspectJson, opts: HtmlOptions = {}): string {
  if (json.schema === 'tcplab.inspect/1') return inspectHtml(json as InspectJson, opts);
  const r = json as ReportJson;
  const kernels = [...new Set(r.labs.map((l) => `${l.stack.os} ${l.stack.release}`))].join(', ');
  const toc = r.labs.length > 1
    ? `<section class="lab"><h2>labs</h2><ul>${r.labs.map((l) => `<li>${badge(l.verdict)} <a href="#lab-${esc(l.id)}">${esc(l.title)}</a></li>`).join('')}</ul></section>`
    : '';
  const started = r.labs[0]?.startedAt ?? '';
  return page('tcplab report', badge(r.verdict), `${esc(kernels)} · ${esc(started)} · ${r.labs.length} lab(s)`, toc + r.labs.map(labHtml).join('\n'));
}
