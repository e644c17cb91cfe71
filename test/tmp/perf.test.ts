import { it } from 'vitest';
import { join } from 'node:path';
import { writePcap, many } from '../fixtures/inspect-synth.js';
import { inspectFile, renderInspect, inspectToJson } from '../../src/inspect/index.js';
import { renderHtml } from '../../src/report/html.js';
it('perf', async () => {
  let t = performance.now();
  const v = many(15000, 60000);
  console.log('gen', v.frames.length, performance.now() - t); t = performance.now();
  await writePcap('/tmp/tcplab-perf.pcap', v.frames);
  console.log('write', performance.now() - t); t = performance.now();
  const r = await inspectFile('/tmp/tcplab-perf.pcap');
  console.log('inspect', performance.now() - t, r.connections.length, r.findings.map(f=>f.kind)); t = performance.now();
  const s = renderInspect(r);
  console.log('render', performance.now() - t, s.length); t = performance.now();
  const j = inspectToJson(r);
  const h = renderHtml(j);
  console.log('json+html', performance.now() - t, JSON.stringify(j).length, h.length);
}, 120000);
