// lab:tw-reuse-delay: how soon tcp_tw_reuse lets connect() take a TIME-WAIT's 4-tuple. Since 6.14
// tcp_twsk_unique() allows it once tw_entry_stamp + net.ipv4.tcp_tw_reuse_delay (ms) has passed,
// tw_entry_stamp being when the peer's FIN moved the socket into the real TIME-WAIT; before, once the
// seconds clock has passed the second of the last timestamp received (0 to 1 s). The client has one
// ephemeral port, so every connect() must reuse the TIME-WAIT: it is retried until it succeeds.
import type { Expected } from '../src/lab/expect.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { packets, sockLineOr, waitSocket } from '../src/lab/evidence.js';
import { connectOn, pair } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const CLIENT_PORT = 40600;
/** How often connect() is retried: the reuse moment is seen up to this late (plus one round trip to the peer). */
const POLL_MS = 10;
/**
 * The kernel compares milliseconds (tcp_clock_ms(), time_after32(): strictly after), and the FIN is
 * captured on this machine's end of the link, up to half a round trip before a guest's kernel stamps it.
 */
const SLACK_MS = 5;

const hasDelay = (v: readonly number[]) => v[0]! > 6 || (v[0] === 6 && v[1]! >= 14);
const DELAY = 'tcp_twsk_unique(): reuse_thresh = tw_entry_stamp + tcp_tw_reuse_delay; time_after32(tcp_clock_ms(), reuse_thresh) (6.14, "tcp: Add sysctl to configure TIME-WAIT reuse delay"; tw_entry_stamp is set when the FIN arrives in FIN-WAIT-2, tcp_timewait_state_process())';
const NOT_UNIQUE = '__inet_hash_connect(): the only port gives no unique 4-tuple while tcp_twsk_unique() refuses the TIME-WAIT, so -EADDRNOTAVAIL';
const SECONDS = 'tcp_twsk_unique() before 6.14: time_after32(ktime_get_seconds(), tw_ts_recent_stamp), the second in which the last timestamp (the FIN\'s) arrived: reuse 0 to 1 s after it';

function labCase(delayMs: number, label: string): LabCase {
  return {
    id: `delay-${delayMs}`,
    title: `tcp_tw_reuse_delay=${delayMs} (${label}): from the peer's FIN to the first SYN that reuses the 4-tuple`,
    async run(ctx: CaseContext) {
      const p = await pair(ctx, ['client', 'server'], {
        client: { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.ip_local_port_range': `${CLIENT_PORT} ${CLIENT_PORT}` },
        server: { 'net.ipv4.tcp_timestamps': 1 },
      }, { port: SERVER_PORT }, 'a');
      const client = p.stackOf(p.a);
      if (hasDelay(client.version)) {
        await p.a.sysctl.set('net.ipv4.tcp_tw_reuse_delay', delayMs);
        ctx.sysctl('client', 'net.ipv4.tcp_tw_reuse_delay', await p.a.sysctl.get('net.ipv4.tcp_tw_reuse_delay'));
      } else {
        ctx.sysctl('client', 'net.ipv4.tcp_tw_reuse_delay', `absent (${client.release} < 6.14)`);
      }
      const c = await connectOn(ctx, p, SERVER_PORT, 3000);
      const { cli, srv } = c;
      const [con, acc] = [{ sock: c.csock }, { sock: c.ssock }];
      const cport = c.local.port;
      await ctx.step(`client ${p.aAddr}:${cport} (its only ephemeral port) connects; the client closes first, then the server`);
      await cli.call('close', { sock: con.sock });
      await srv.call('recv', { sock: acc.sock, timeoutMs: 3000 });
      await srv.call('close', { sock: acc.sock });
      const tw = await waitSocket(p.a, { addr: p.aAddr, port: cport }, { addr: p.bAddr, port: SERVER_PORT }, (s) => s?.state === 'TIME-WAIT', 2000);
      const fin = packets(p.wire, p.point, (x) => x.segment.src === p.bAddr && x.segment.dport === cport && x.segment.flags.includes('F'))[0];
      if (!fin || tw?.state !== 'TIME-WAIT') throw new Error(`set-up: no TIME-WAIT on the client (${sockLineOr(tw)}), server FIN ${fin ? 'seen' : 'missing'}`);

      await ctx.step(`the client connect()s every ${POLL_MS} ms until tcp_tw_reuse lets it take the TIME-WAIT's port`);
      const limit = (hasDelay(client.version) ? delayMs : 1000) + 3000;
      const codes = new Map<string, number>();
      let ok: { sock: number } | undefined;
      // When the last refused connect() was asked: the kernel refused at that moment or later.
      let lastRefusal: bigint | undefined;
      let firstTry: bigint | undefined;
      const started = Date.now();
      while (!ok && Date.now() - started < limit) {
        const asked = p.wire.now();
        firstTry ??= asked;
        const r = await cli.try('connect', { addr: p.bAddr, port: SERVER_PORT, timeoutMs: 3000 });
        if (r.ok) ok = r;
        else {
          lastRefusal = asked;
          codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
          await ctx.sleep(POLL_MS);
        }
      }
      const refusals = [...codes].map(([c, n]) => `${c} x${n}`).join(', ') || 'none';
      ctx.note('client', `connect() refused: ${refusals}; then ${ok ? 'connected' : 'still refused'}`);
      const syn = packets(p.wire, p.point, (x) => x.tsNs > fin.tsNs && x.segment.src === p.aAddr && x.segment.sport === cport && x.segment.flags === 'S')[0];
      // What the first try should meet depends on when it came: a busy machine may come late.
      const firstMs = firstTry === undefined ? 0 : Number(firstTry - fin.tsNs) / 1e6;
      const early: Expected = firstMs < delayMs - SLACK_MS ? 'EADDRNOTAVAIL' : firstMs > delayMs + SLACK_MS ? 'none refused' : { oneOf: ['EADDRNOTAVAIL', 'none refused'] };
      ctx.check({
        id: 'refused-before',
        stack: client,
        title: 'connect() before the reuse delay has passed',
        expect: { linux: [
          { versions: '>=6.14', expect: early, because: `${NOT_UNIQUE}; the first try came ${firstMs.toFixed(1)} ms after the FIN` },
          // A FIN in the last ms of a second lets the very first try through.
          { versions: '<6.14', expect: { oneOf: ['EADDRNOTAVAIL', 'none refused'] }, because: `${NOT_UNIQUE}; ${SECONDS}` },
        ] },
        observed: codes.size === 1 ? [...codes.keys()][0]! : codes.size === 0 ? 'none refused' : refusals,
        sockets: [sockLineOr(tw, 'client')],
        packets: [fin],
      });
      if (!syn || !ok) throw new Error(`no reusing SYN within ${limit} ms (refusals: ${refusals})`);
      // The kernel's moment lies between the last refusal and the reusing SYN: two one-sided checks judge
      // it without counting how fast this machine got round to the next try (the poll, the peer's RPC).
      const msAfterFin = (t: bigint) => +(Number(t - fin.tsNs) / 1e6).toFixed(1);
      const refusedAt = lastRefusal === undefined ? undefined : msAfterFin(lastRefusal);
      const reusedAt = msAfterFin(syn.tsNs);
      const bracket = `refused ${refusedAt ?? '-'} ms after the FIN (the last try), reused ${reusedAt} ms after it`;
      if (hasDelay(client.version)) {
        ctx.check({
          id: 'reuse-not-before',
          stack: client,
          title: "the first SYN on the reused 4-tuple, ms after the server's FIN (TIME-WAIT entry): not before the delay",
          expect: { linux: [{ versions: '>=6.14', expect: { atLeast: delayMs - SLACK_MS }, because: DELAY }] },
          observed: reusedAt,
          packets: [fin, syn],
          explain: bracket,
        });
      }
      if (refusedAt !== undefined) {
        ctx.check({
          id: 'refused-not-after',
          stack: client,
          title: "the last refused connect(), ms after the server's FIN: not after the delay (before 6.14: the next second)",
          expect: { linux: [
            { versions: '>=6.14', expect: { atMost: delayMs + SLACK_MS }, because: DELAY },
            { versions: '<6.14', expect: { atMost: 1000 + SLACK_MS }, because: SECONDS },
          ] },
          observed: refusedAt,
          packets: [fin, syn],
          explain: `${bracket}: the kernel's moment lies between the two`,
        });
      }
      await cli.call('close', { sock: ok.sock });
    },
  };
}

export const twReuseDelayLab: Lab = {
  id: 'tw-reuse-delay',
  title: 'tcp_tw_reuse_delay: how soon connect() may reuse a TIME-WAIT 4-tuple',
  summary:
    "tcp_tw_reuse lets an outgoing connection take a TIME-WAIT's 4-tuple, but not at once: since 6.14 after tcp_tw_reuse_delay ms (default 1000) from the moment the " +
    "TIME-WAIT began, before that after the next second boundary past the last timestamp. A client with one ephemeral port retries connect() until it " +
    'succeeds; the delay is measured from the peer\'s FIN to the reusing SYN, for a short, the default and a long setting.',
  rfcs: ['RFC 6191 (reusing TIME-WAIT with timestamps)', 'Linux tcp_twsk_unique()', 'Linux __inet_hash_connect()'],
  sources: ['Linux Documentation/networking/ip-sysctl.rst: tcp_tw_reuse, tcp_tw_reuse_delay'],
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  cases: [labCase(100, 'short'), labCase(1000, 'default'), labCase(3000, 'long')],
};
