// tcplab serve's server on a synthetic lab (no root): loopback only, foreign Host/Origin refused, the
// token and input checked, and the live stream: a step waits for "next", its packets reach the page.
import { afterEach, describe, expect, it } from 'vitest';
import { startClassroomServer, type ClassroomServer } from '../../src/serve/server.js';
import type { Lab } from '../../src/lab/types.js';
import type { PacketRecord } from '../../src/lab/packets.js';
import { decode, encode } from '../../src/wire/segment.js';
import { stepReasons } from '../../src/serve/why.js';
import { events, http } from '../helpers/classroom.js';

function pkt(spec: Parameters<typeof encode>[0]): PacketRecord {
  const r = decode(encode(spec), 'raw');
  if (!r.ok) throw new Error(r.error);
  return { tsNs: BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(performance.now() * 1000) % 1_000_000), dir: 'in', point: 'test', segment: r.segment };
}

const C = '198.18.0.2';
const S = '198.18.0.1';
const captured: PacketRecord[] = [];
const lab: Lab = {
  id: 'synthetic', title: 'synthetic lab', summary: 'a story in two steps', rfcs: ['RFC 9293 §3.5'], sources: [],
  roles: { all: ['client', 'server'], subject: 'server' }, remote: 'link',
  cases: [{
    id: 'two-steps', title: 'a SYN, then a RST',
    async run(ctx) {
      captured.length = 0;
      ctx.setColumns([{ label: 'client', addrs: [C] }, { label: 'server', addrs: [S] }]);
      ctx.addCapture({ point: 'test', link: 'raw', records: () => [...captured], frames: () => [] });
      ctx.sysctl('server', 'net.ipv4.tcp_syncookies', '1');
      await ctx.step('the client connects to a closed port');
      captured.push(pkt({ src: C, dst: S, sport: 40000, dport: 8080, seq: 100, flags: 'S' }));
      await new Promise((r) => setTimeout(r, 300));
      captured.push(pkt({ src: S, dst: C, sport: 8080, dport: 40000, seq: 0, ack: 101, flags: 'R.' }));
      await ctx.step('nothing more happens');
      ctx.check({ id: 'answer', title: 'the answer is a RST', expect: { linux: [{ versions: '*', expect: 'R.' }] }, observed: 'R.', packets: [...captured] });
    },
  }],
};

let server: ClassroomServer | undefined;
afterEach(async () => {
  await server?.stop('test over');
  server = undefined;
});

async function start(graceMs = 60_000) {
  server = await startClassroomServer({ labs: [lab], graceMs });
  const page = await http(server.port, '/');
  const token = /data-token="([^"]+)"/.exec(page.body)![1]!;
  return { s: server, page, token };
}

const post = (port: number, path: string, token: string, body: unknown, extra: Record<string, string> = {}) =>
  http(port, path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tcplab-token': token, origin: `http://127.0.0.1:${port}`, ...extra }, body: JSON.stringify(body) });

describe('tcplab serve: who may talk to it', () => {
  it('binds loopback only and serves one self-contained page under a strict CSP', async () => {
    const { s, page } = await start();
    expect(s.bound[0]).toBe('127.0.0.1');
    expect(s.bound.every((a) => a === '127.0.0.1' || a === '::1')).toBe(true);
    expect(page.status).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    // No external assets: no src/href to anything, no @import or url() fetches.
    expect(page.body).not.toMatch(/\ssrc=|<link |@import|url\((?!#)|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
    // A non-loopback address of this machine does not answer on the port.
    const { networkInterfaces } = await import('node:os');
    const other = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4');
    if (other) await expect(http(s.port, '/', { addr: other.address })).rejects.toThrow(/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/);
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin with 403, on every route', async () => {
    const { s, token } = await start();
    for (const path of ['/', '/events']) {
      expect((await http(s.port, path, { host: `evil.example:${s.port}` })).status).toBe(403);
      expect((await http(s.port, path, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    }
    expect((await http(s.port, '/', { host: `127.0.0.1:${s.port + 1}` })).status).toBe(403);
    expect((await http(s.port, '/', { host: `localhost:${s.port}` })).status).toBe(200);
    expect((await post(s.port, '/run', token, { lab: 'synthetic' }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(s.port, '/run', token, { lab: 'synthetic' }, { host: `rebound.example:${s.port}` })).status).toBe(403);
    // Same origin but without the page's token: refused too.
    expect((await post(s.port, '/run', 'guess', { lab: 'synthetic' })).status).toBe(403);
    expect((await http(s.port, '/run', { method: 'POST', headers: { 'x-tcplab-token': token, 'content-type': 'text/plain' }, body: '{}' })).status).toBe(415);
  });

  it('runs only registered labs and cases: bad input names the field', async () => {
    const { s, token } = await start();
    const bad = async (body: unknown, field: RegExp) => {
      const r = await post(s.port, '/run', token, body);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error).toMatch(field);
    };
    await bad({ lab: 'reuse; rm -rf /' }, /^lab: no lab/);
    await bad({}, /^lab: required/);
    await bad({ lab: 'synthetic', case: '../../etc' }, /^case: lab synthetic has no case/);
    await bad({ lab: 'synthetic', cmd: 'x' }, /^cmd: unknown field/);
    await bad([1], /^body:/);
    const r = await http(s.port, '/run', { method: 'POST', headers: { 'x-tcplab-token': token, 'content-type': 'application/json' }, body: '{' });
    expect(JSON.parse(r.body).error).toMatch(/^body: not JSON/);
    expect((await post(s.port, '/next', token, {})).status).toBe(409);
  });
});

describe('tcplab serve: the live stream', () => {
  it('each step waits for next; the ladder grows with the packets the step caused; verdicts and sysctls arrive', async () => {
    const { s, token } = await start();
    const ev = events(s.port);
    await ev.until((e) => e.event === 'hello');
    expect((await post(s.port, '/run', token, { lab: 'synthetic', case: 'two-steps' })).status).toBe(202);
    expect((await post(s.port, '/run', token, { lab: 'synthetic' })).status).toBe(409); // one run at a time
    const step1 = await ev.until((e) => e.event === 'step' && e.data.n === 1 && e.data.waiting);
    expect(step1.data.text).toBe('the client connects to a closed port');
    expect(step1.data.reasons[0].title).toBe('Three-way handshake');
    await ev.until((e) => e.event === 'sysctls' && e.data['server:net.ipv4.tcp_syncookies'] === '1');
    // Held: no packet while the step waits.
    await new Promise((r) => setTimeout(r, 400));
    expect(ev.got.filter((e) => e.event === 'ladder' && e.data.packets > 0)).toEqual([]);
    expect((await post(s.port, '/next', token, {})).status).toBe(200);
    const one = await ev.until((e) => e.event === 'ladder' && e.data.packets === 1);
    expect((one.data.svg.match(/<line class="arrow"/g) ?? []).length).toBe(1);
    const two = await ev.until((e) => e.event === 'ladder' && e.data.packets === 2);
    expect((two.data.svg.match(/<line class="arrow"/g) ?? []).length).toBe(2);
    expect(two.data.svg).toContain('R.');
    // Step 2 is announced only after step 1's packets arrived, and waits again.
    const step2 = await ev.until((e) => e.event === 'step' && e.data.n === 2 && e.data.waiting);
    expect(ev.got.indexOf(step2)).toBeGreaterThan(ev.got.indexOf(two));
    expect(ev.got.some((e) => e.event === 'check')).toBe(false);
    await post(s.port, '/next', token, {});
    const check = await ev.until((e) => e.event === 'check');
    expect(check.data).toMatchObject({ id: 'answer', verdict: 'PASS' });
    const done = await ev.until((e) => e.event === 'done');
    expect(done.data.verdict).toBe('PASS');
    ev.close();
  });

  it('stops when the page goes away (after the grace period), aborting the waiting step', async () => {
    const { s, token } = await start(300);
    const ev = events(s.port);
    await ev.until((e) => e.event === 'hello');
    await post(s.port, '/run', token, { lab: 'synthetic' });
    await ev.until((e) => e.event === 'step' && e.data.waiting);
    const t = Date.now();
    ev.close();
    expect(await s.stopped).toBe('the page went away');
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    await expect(http(s.port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('step reasons', () => {
  it('match the --explain texts to a step, and fall back to the lab story', () => {
    expect(stepReasons(lab, 'the client closes first').map((r) => r.title)).toEqual(['The side that closes first holds TIME-WAIT']);
    expect(stepReasons(lab, 'something else')[0]!.text).toBe('a story in two steps');
    expect(stepReasons(lab, 'the server closes first', 'because the lab says so')[0]!.text).toBe('because the lab says so');
  });
});
