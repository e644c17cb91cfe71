import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/report/html.js';
import { addrOf, svgLadder } from '../../src/report/svg-ladder.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';

describe('HTML report (structure; the browser test renders it)', () => {
  it('escapes everything that comes from a lab or a capture', async () => {
    const j = await sampleReportJson();
    j.labs[0]!.cases[0]!.steps.push('<script>alert(1)</script> & "x"');
    const html = renderHtml(j);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;');
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
  });

  it('one arrow per distinct packet, the same packet captured twice drawn once', () => {
    const p = { tNs: '0', src: '198.18.0.1:1000', dst: '198.18.0.2:80', flags: 'S', seq: 5, ack: 0, win: 100, len: 0, options: '' };
    const q = { ...p, tNs: '1000', src: p.dst, dst: p.src, flags: 'S.', seq: 9, ack: 6 };
    const svg = svgLadder([p, { ...p, tNs: '10' }, q], [{ tNs: '500', text: 'a note' }]);
    expect(svg.match(/<line class="arrow"/g)).toHaveLength(2);
    expect(svg).toContain('S. seq 0 ack 1 win 100');
    expect(svg).toContain('a note');
    // left-to-right then right-to-left
    const xs = [...svg.matchAll(/<line class="arrow" x1="(\d+)"/g)].map((m) => Number(m[1]));
    expect(xs[0]!).toBeLessThan(xs[1]!);
  });

  it('three columns when the case names them: client, prober, server', () => {
    const p = { tNs: '0', src: '198.18.0.1:1000', dst: '198.18.0.2:80', flags: 'S', seq: 5, ack: 0, win: 100, len: 0, options: '' };
    const fromProber = { ...p, tNs: '100', src: '198.18.0.99:1000', flags: 'R' };
    const toProber = { ...p, tNs: '200', src: p.dst, dst: '198.18.0.99:1000', flags: '.' };
    const svg = svgLadder([p, fromProber, toProber], [], {
      columns: [{ label: 'client', addrs: ['198.18.0.1'] }, { label: 'prober', addrs: ['198.18.0.99'] }, { label: 'server', addrs: ['198.18.0.2'] }],
    });
    expect(svg.match(/<line class="life"/g)).toHaveLength(3);
    const arrows = [...svg.matchAll(/<line class="arrow" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const lifelines = [...svg.matchAll(/<line class="life" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    const [l, mid, r] = lifelines as [number, number, number];
    expect(arrows[0]![0]).toBe(l); // client -> server spans the whole ladder
    expect(arrows[0]![1]).toBeCloseTo(r - 3);
    expect(arrows[1]![0]).toBe(mid); // prober -> server
    expect(arrows[2]).toEqual([r, mid + 3]); // server -> prober
    expect(svg).toContain('prober (198.18.0.99)');
  });

  it('addresses with ports, IPv6 too', () => {
    expect(addrOf('198.18.0.1:80')).toBe('198.18.0.1');
    expect(addrOf('fd00::1:80')).toBe('fd00::1');
    expect(addrOf('[fd00::1]:80')).toBe('fd00::1');
  });
});
