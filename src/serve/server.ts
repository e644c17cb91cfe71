// `tcplab serve`: classroom mode on a local web page for a projector. node:http only, bound to loopback
// only; requests whose Host or Origin is not this server's own loopback address are refused (DNS
// rebinding, cross-site posts), and every POST carries a token only the served page knows. The page
// picks a registered lab and case; server-sent events push the story, the SVG ladder as it grows, the
// step about to run (run by the page's "next"), the verdicts and the sysctls in force. The server stops,
// the lab's clean-up first, when the page goes away (its event stream closes for a grace period) or
// when the caller stops it (the terminal: SIGINT, SIGHUP, stdin closed).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runLab } from '../lab/runner.js';
import type { LiveCase, LiveObserver, LiveSnapshot } from '../lab/live.js';
import type { Lab } from '../lab/types.js';
import type { LabTarget } from '../lab/stack.js';
import type { StackInfo } from '../lab/kernel.js';
import { localStack } from '../lab/kernel.js';
import type { CaseResult } from '../lab/result.js';
import { packetJson } from '../lab/packets.js';
import { caseUnsupported, labUnsupported, subjectOf } from '../lab/placement.js';
import { annotate } from '../inspect/annotate.js';
import { svgLadder, type SvgNote } from '../report/svg-ladder.js';
import { linuxHost, type StackFactory } from '../targets/registry.js';
import { classroomPage } from './page.js';
import { stepReasons } from './why.js';

export interface ServeOptions {
  labs: readonly Lab[];
  /** 0 (default): a free port the kernel picks. */
  port?: number;
  /** Run the subject there (--target); undefined: this machine's kernel. */
  factory?: StackFactory;
  /**
   * Starts the factory's target for one run and stops it after (the CLI's runOnTarget); default: this
   * machine's kernel. Given by the caller: this layer does not boot targets itself.
   */
  onStack?: (fn: (on: OnStack) => Promise<void>) => Promise<void>;
  /** How long the page may be gone (no event stream) before the server stops; default 5000 ms. */
  graceMs?: number;
  /** Progress for the terminal that started the server. */
  log?: (line: string) => void;
}

/** A started stack for one run, as runOnTarget gives it. */
export interface OnStack {
  stack: StackInfo;
  target?: LabTarget;
  linkUnsupported?: string;
}

export interface ClassroomServer {
  /** The page's address on 127.0.0.1. */
  url: string;
  port: number;
  /** The addresses actually bound (127.0.0.1, and ::1 where the machine has it). */
  bound: string[];
  /** Stops: aborts a running lab, waits for its clean-up, closes the sockets. Idempotent. */
  stop(why: string): Promise<void>;
  /** Resolves with the reason once the server has stopped. */
  readonly stopped: Promise<string>;
}

/** What a page that (re)connects needs to draw the current state. */
interface State {
  running: boolean;
  story?: { lab: string; title: string; summary: string; rfcs: readonly string[]; case: string; caseTitle: string };
  ladder?: { svg: string; packets: number };
  step?: { n: number; text: string; reasons: { title: string; text: string; rules: readonly string[] }[]; waiting: boolean };
  steps: string[];
  checks: { case: string; id: string; title: string; verdict: string; observed: unknown; expected: string; rule: string; explain?: string }[];
  sysctls: Record<string, string>;
  cases: { id: string; verdict: string; error?: string }[];
  verdict?: string;
  error?: string;
  log: string[];
}

const MAX_BODY = 4096;
const LOG_KEEP = 200;

function send(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

const json = (res: ServerResponse, code: number, v: unknown) => send(res, code, JSON.stringify(v) + '\n', 'application/json');

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new RangeError(`body: at most ${MAX_BODY} bytes`);
    parts.push(c);
  }
  const text = Buffer.concat(parts).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new RangeError('body: not JSON (send {"lab": "ID", "case": "ID"})');
  }
}

export async function startClassroomServer(o: ServeOptions): Promise<ClassroomServer> {
  const log = o.log ?? (() => {});
  const onStack = o.onStack ?? ((fn: (on: OnStack) => Promise<void>) => fn({ stack: localStack() }));
  const graceMs = o.graceMs ?? 5000;
  const token = randomBytes(18).toString('base64url');
  const traits = o.factory ?? linuxHost;
  const labs = o.labs;
  const clients = new Set<ServerResponse>();
  const state: State = { running: false, steps: [], checks: [], sysctls: {}, cases: [], log: [] };
  let port = o.port ?? 0;
  let allowedHosts = new Set<string>();
  let run: { ac: AbortController; done: Promise<void> } | undefined;
  let next: (() => void) | undefined;
  let grace: NodeJS.Timeout | undefined;
  let everConnected = false;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: (why: string) => void;
  const stopped = new Promise<string>((r) => (resolveStopped = r));

  const push = (event: string, data: unknown) => {
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) c.write(msg);
  };
  const addLog = (line: string) => {
    state.log.push(line);
    if (state.log.length > LOG_KEEP) state.log.splice(0, state.log.length - LOG_KEEP);
    push('log', line);
  };

  const labList = labs.map((l) => {
    const why = labUnsupported(l, traits);
    const subject = subjectOf(l);
    return {
      id: l.id, title: l.title, summary: l.summary, slow: l.slow ?? false, ...(why ? { unsupported: why } : {}),
      cases: l.cases.map((c) => {
        const w = caseUnsupported(c, traits, subject);
        return { id: c.id, title: c.title, ...(w ? { unsupported: w } : {}) };
      }),
    };
  });

  const ladderOf = (s: LiveSnapshot) => {
    const a = annotate(s.packets, s.columns);
    const rel = (t: bigint) => (t - s.t0).toString();
    const packets = s.packets.map((p) => ({ ...packetJson(p, s.t0), states: (a.states(p) as [string, string] | undefined) ?? null }));
    const notes: SvgNote[] = [...s.notes, ...a.notes].map((n) => ({ tNs: rel(n.tsNs), ...(n.who ? { who: n.who } : {}), text: n.text }));
    return { svg: svgLadder(packets, notes, s.columns ? { columns: s.columns } : {}), packets: s.packets.length };
  };

  const observer: LiveObserver = {
    caseStart(c: LiveCase) {
      state.story = { lab: c.lab.id, title: c.lab.title, summary: c.lab.summary, rfcs: c.lab.rfcs, case: c.lc.id, caseTitle: c.lc.title };
      state.ladder = undefined;
      state.step = undefined;
      state.steps = [];
      state.sysctls = {};
      push('story', state.story);
      push('ladder', { svg: '', packets: 0 });
      push('sysctls', state.sysctls);
    },
    packets(s) {
      state.ladder = ladderOf(s);
      push('ladder', state.ladder);
    },
    beforeStep(s, signal) {
      state.step = { n: s.n, text: s.text, reasons: stepReasons(s.lab, s.text, s.why), waiting: true };
      push('step', state.step);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new Error('interrupted'));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        next = () => {
          signal.removeEventListener('abort', onAbort);
          next = undefined;
          state.step = { ...state.step!, waiting: false };
          state.steps.push(s.text);
          push('step', state.step);
          resolve();
        };
      });
    },
    check(c, k) {
      const v = { case: c.lc.id, id: k.id, title: k.title, verdict: k.verdict, observed: k.observed, expected: k.expected, rule: k.rule, ...(k.explain ? { explain: k.explain } : {}) };
      state.checks.push(v);
      push('check', v);
    },
    sysctl(_c, key, value) {
      state.sysctls[key] = value;
      push('sysctls', state.sysctls);
    },
    caseEnd(c: LiveCase, r: CaseResult) {
      const v = { id: c.lc.id, verdict: r.verdict, ...(r.error ? { error: r.error } : {}) };
      state.cases.push(v);
      state.step = undefined;
      push('caseEnd', v);
    },
  };

  /** Validates {lab, case} against the registered labs and the target: the page can run nothing else. */
  const parseRun = (body: unknown): { lab: Lab; cases?: string[] } => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RangeError('body: must be {"lab": "ID", "case": "ID"}');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'lab' && k !== 'case') throw new RangeError(`${k}: unknown field (fields: lab, case)`);
    if (typeof b.lab !== 'string') throw new RangeError('lab: required, one of the ids in the list');
    const lab = labs.find((l) => l.id === b.lab);
    if (!lab) throw new RangeError(`lab: no lab '${String(b.lab).slice(0, 40)}' (labs: ${labs.map((l) => l.id).join(', ')})`);
    const why = labUnsupported(lab, traits);
    if (why) throw new RangeError(`lab: ${lab.id} cannot run on ${traits.id}: ${why}`);
    if (b.case === undefined || b.case === '') return { lab };
    if (typeof b.case !== 'string' || !lab.cases.some((c) => c.id === b.case)) {
      throw new RangeError(`case: lab ${lab.id} has no case '${String(b.case).slice(0, 40)}' (cases: ${lab.cases.map((c) => c.id).join(', ')})`);
    }
    const w = caseUnsupported(lab.cases.find((c) => c.id === b.case)!, traits, subjectOf(lab));
    if (w) throw new RangeError(`case: ${b.case} cannot run on ${traits.id}: ${w}`);
    return { lab, cases: [b.case] };
  };

  const startRun = (lab: Lab, cases: string[] | undefined) => {
    const ac = new AbortController();
    Object.assign(state, { running: true, story: undefined, ladder: undefined, step: undefined, steps: [], checks: [], sysctls: {}, cases: [], verdict: undefined, error: undefined });
    push('run', { lab: lab.id, case: cases?.[0] ?? null });
    log(`serve: running ${lab.id}${cases ? ` --case ${cases[0]}` : ''}${o.factory ? ` on ${o.factory.id}` : ''}`);
    const done = (async () => {
      try {
        await onStack(async ({ stack, target, linkUnsupported }) => {
          const r = await runLab(lab, {
            stack, ...(target ? { target } : {}), ...(linkUnsupported ? { linkUnsupported } : {}),
            ...(cases ? { cases } : {}), signal: ac.signal, live: observer,
            onProgress: (l) => {
              addLog(l);
              log(l);
            },
          });
          state.verdict = r.verdict;
        });
      } catch (e) {
        state.error = e instanceof Error ? e.message : String(e);
        log(`serve: ${state.error}`);
      } finally {
        state.running = false;
        next = undefined;
        push('done', { verdict: state.verdict ?? 'ERROR', ...(state.error ? { error: state.error } : {}), cases: state.cases, interrupted: ac.signal.aborted });
        log(`serve: ${lab.id}: ${state.verdict ?? 'ERROR'}${ac.signal.aborted ? ' (interrupted)' : ''}`);
        run = undefined;
      }
    })();
    run = { ac, done };
  };

  const tokenOk = (given: string | string[] | undefined): boolean => {
    const a = Buffer.from(typeof given === 'string' ? given : '');
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const hostOk = (req: IncomingMessage): boolean => {
    const host = req.headers.host;
    if (host === undefined || !allowedHosts.has(host.toLowerCase())) return false;
    const origin = req.headers.origin;
    return origin === undefined || allowedHosts.has(origin.toLowerCase().replace(/^http:\/\//, '')) && origin.toLowerCase().startsWith('http://');
  };

  const pageGone = () => {
    if (clients.size || !everConnected || stopping) return;
    clearTimeout(grace);
    grace = setTimeout(() => void api.stop('the page went away'), graceMs);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS rebinding: a page of another site resolving its name to 127.0.0.1 sends its own Host.
    if (!hostOk(req)) {
      log(`serve: refused ${req.method} ${req.url} (Host ${JSON.stringify(req.headers.host)}, Origin ${JSON.stringify(req.headers.origin ?? null)})`);
      return send(res, 403, 'forbidden: only this machine\'s loopback page may talk to tcplab serve\n');
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/') {
      const nonce = randomBytes(16).toString('base64');
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
        // Nothing but this page's own script and style, and its own server for the event stream and posts.
        'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      });
      return res.end(classroomPage({ nonce, token, target: traits.id }));
    }
    if (req.method === 'GET' && url.pathname === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', Connection: 'keep-alive' });
      res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ labs: labList, target: traits.id, state })}\n\n`);
      clients.add(res);
      everConnected = true;
      clearTimeout(grace);
      req.on('close', () => {
        clients.delete(res);
        pageGone();
      });
      return;
    }
    if (req.method === 'POST' && ['/run', '/next', '/stop'].includes(url.pathname)) {
      if (!tokenOk(req.headers['x-tcplab-token'])) return send(res, 403, 'forbidden: missing or wrong X-Tcplab-Token (reload the page)\n');
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return send(res, 415, 'Content-Type: must be application/json\n');
      let body: unknown;
      try {
        body = await readBody(req);
      } catch (e) {
        return json(res, 400, { error: (e as Error).message });
      }
      if (url.pathname === '/run') {
        if (stopping) return json(res, 409, { error: 'the server is stopping' });
        if (run) return json(res, 409, { error: 'a lab is running: stop it first' });
        let asked: { lab: Lab; cases?: string[] };
        try {
          asked = parseRun(body);
        } catch (e) {
          return json(res, 400, { error: (e as Error).message });
        }
        startRun(asked.lab, asked.cases);
        return json(res, 202, { running: asked.lab.id, case: asked.cases?.[0] ?? null });
      }
      if (url.pathname === '/next') {
        if (!next) return json(res, 409, { error: 'no step is waiting' });
        next();
        return json(res, 200, { ok: true });
      }
      if (!run) return json(res, 409, { error: 'nothing is running' });
      run.ac.abort();
      return json(res, 202, { stopping: true });
    }
    if (['/', '/events', '/run', '/next', '/stop'].includes(url.pathname)) return send(res, 405, 'method not allowed\n');
    return send(res, 404, 'not found\n');
  };

  const servers: Server[] = [];
  const listen = (host: string, p: number) => new Promise<Server>((resolve, reject) => {
    const s = createServer((req, res) => {
      handle(req, res).catch((e) => {
        if (!res.headersSent) send(res, 500, `internal error: ${(e as Error).message}\n`);
        else res.end();
      });
    });
    s.once('error', reject);
    s.listen({ host, port: p, exclusive: true }, () => resolve(s));
  });
  const v4 = await listen('127.0.0.1', port);
  servers.push(v4);
  port = (v4.address() as AddressInfo).port;
  const bound = ['127.0.0.1'];
  try {
    servers.push(await listen('::1', port));
    bound.push('::1');
  } catch {
    // no IPv6 loopback here (or its port is taken): 127.0.0.1 is enough
  }
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, ...(bound.includes('::1') ? [`[::1]:${port}`] : [])]);

  const api: ClassroomServer = {
    url: `http://127.0.0.1:${port}/`,
    port,
    bound,
    stopped,
    stop(why: string) {
      stopping ??= (async () => {
        clearTimeout(grace);
        log(`serve: stopping: ${why}`);
        if (run) {
          run.ac.abort();
          await run.done; // the lab's clean-up (namespaces, sysctls, target) runs before the server goes
        }
        push('bye', { why });
        for (const c of clients) c.end();
        clients.clear();
        await Promise.all(servers.map((s) => new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        })));
        resolveStopped(why);
      })();
      return stopping;
    },
  };
  return api;
}
