// A checker for the subset of packetdrill's language this exporter writes (packetdrill's own grammar is
// parser.y in github.com/google/packetdrill): option lines, timed events that are packets, syscalls or
// backquoted commands, and comments. It checks the shape of every line and that fds are used only
// between the syscall that returned them and close(). Errors carry the line number.

export interface SyntaxProblem {
  line: number;
  message: string;
}

export interface ParsedScript {
  options: Record<string, string | true>;
  events: { line: number; timeUs: number; kind: 'packet' | 'syscall' | 'command'; text: string }[];
  problems: SyntaxProblem[];
}

const OPTION = /^--([a-z_]+)(?:=(\S+))?$/;
const TIME = /^(\+?)(\d+(?:\.\d+)?|\.\d+)(?:(\.\.\.|~\+)(\d+(?:\.\d+)?))?\s+(.*)$/;
const U32 = (s: string) => /^\d+$/.test(s) && Number(s) <= 0xffffffff;
const FLAG_ORDER = 'FSRP.';
const OPTS: readonly RegExp[] = [/^nop$/, /^eol$/, /^sackOK$/, /^mss \d+$/, /^wscale \d+$/, /^TS val \d+ ecr \d+$/, /^sack( \d+:\d+)+$/];
const SYSCALL = /^([a-z_]+)\((.*)\) = (-?\d+)(?: (E[A-Z]+)(?: \(([^)]*)\))?)?$/;
const KNOWN_SYSCALLS = ['socket', 'setsockopt', 'bind', 'listen', 'accept', 'read', 'write', 'shutdown', 'close', 'fcntl'];

function checkPacket(text: string): string | undefined {
  const m = /^([<>]) ([A-Z.]+) (\d+):(\d+)\((\d+)\)(?: ack (\d+))?(?: win (\d+))?(?: <([^<>]*)>)?$/.exec(text);
  if (!m) return `not a packet line: '${text}' (expected '< FLAGS start:end(len) [ack N] [win N] [<options>]')`;
  const [, , flags, start, end, len, ack, win, opts] = m;
  if (![...flags!].every((c) => FLAG_ORDER.includes(c))) return `flags '${flags}': only F S R P .`;
  const order = [...flags!].map((c) => FLAG_ORDER.indexOf(c));
  if (order.some((v, i) => i > 0 && v <= order[i - 1]!)) return `flags '${flags}': packetdrill's order is F S R P .`;
  for (const [name, v] of [['start', start], ['end', end], ['ack', ack]] as const) if (v !== undefined && !U32(v)) return `${name} ${v}: not a 32-bit sequence number`;
  if (((Number(start) + Number(len)) >>> 0) !== Number(end)) return `${start}:${end}(${len}): end must be start + len`;
  if (flags!.includes('.') !== (ack !== undefined)) return `flags '${flags}' and ${ack === undefined ? 'no ack field' : `ack ${ack}`}: the ack field goes with '.'`;
  if (win !== undefined && Number(win) > 0xffff) return `win ${win}: more than 16 bits`;
  if (opts !== undefined) {
    for (const o of opts.split(',')) if (!OPTS.some((r) => r.test(o))) return `TCP option '${o}' is not one packetdrill reads`;
  }
  return undefined;
}

export function parseScript(text: string): ParsedScript {
  const out: ParsedScript = { options: {}, events: [], problems: [] };
  const open = new Set<number>();
  let t = -1;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    const bad = (message: string) => out.problems.push({ line: n, message });
    if (line === '' || line.startsWith('//')) return;
    const opt = OPTION.exec(line);
    if (opt) {
      if (out.events.length) bad(`option ${line} after the first event: packetdrill reads options only at the top`);
      out.options[opt[1]!] = opt[2] ?? true;
      return;
    }
    const tm = TIME.exec(line);
    if (!tm) return bad(`not an option, comment or timed event: '${line}'`);
    const rel = tm[1] === '+';
    const secs = Number(tm[2]);
    if (!rel && out.events.length) return bad('only the first event may have an absolute time; the exporter writes +gaps');
    t = rel ? t + Math.round(secs * 1e6) : Math.round(secs * 1e6);
    if (!out.events.length && (rel || secs !== 0)) bad('the first event must be at time 0');
    const body = tm[5]!;
    if (tm[3] !== undefined) {
      if (Number(tm[4]) < secs) bad(`time range ${tm[2]}${tm[3]}${tm[4]} is backwards`);
      // packetdrill's grammar: `+a~+b` for packets (parser.y time '~' time), `+a...b` for syscalls (opt_end_time).
      if (tm[3] === '...' && !/^(accept|read)\(/.test(body)) bad("'...' goes only with a blocking accept() or read()");
      if (tm[3] === '~+' && !body.startsWith('> ')) bad("'~' goes only with an outbound packet");
    }
    if (body.startsWith('<') || body.startsWith('>')) {
      const p = checkPacket(body);
      if (p) bad(p);
      out.events.push({ line: n, timeUs: t, kind: 'packet', text: body });
    } else if (body.startsWith('`')) {
      if (!/^`[^`]+`$/.test(body)) bad(`command '${body}': one backquoted shell command`);
      out.events.push({ line: n, timeUs: t, kind: 'command', text: body });
    } else {
      const s = SYSCALL.exec(body);
      if (!s) return bad(`not a syscall line: '${body}' (expected 'name(args) = ret [ERRNO (text)]')`);
      const [, name, args, ret, errno] = s;
      if (!KNOWN_SYSCALLS.includes(name!)) bad(`syscall ${name} is not one the exporter writes`);
      if (Number(ret) === -1 && !errno) bad(`${name} returns -1 without an errno`);
      const fd = Number(args!.split(',')[0]);
      if (name !== 'socket') {
        if (!open.has(fd)) bad(`${name}(${fd}, ...): fd ${fd} is not open here`);
      }
      if ((name === 'socket' || name === 'accept') && Number(ret) >= 0) {
        if (open.has(Number(ret))) bad(`${name} returns fd ${ret}, which is still open`);
        open.add(Number(ret));
      }
      if (name === 'close') open.delete(fd);
      out.events.push({ line: n, timeUs: t, kind: 'syscall', text: body });
    }
  });
  if (!out.events.some((e) => e.kind === 'packet' && e.text.startsWith('>'))) out.problems.push({ line: lines.length, message: 'no outbound packet: the script expects nothing of the kernel' });
  return out;
}
