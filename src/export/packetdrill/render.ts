// The script's text: a header of comments (lab, case, kernel, the run's checks), packetdrill's options,
// the subject's sysctls as commands, then every event at its gap from the previous one in ms.
import type { CaseSource, Event, ScriptOptions } from './script.js';

function seconds(ns: bigint): string {
  // Milliseconds are what packetdrill's tolerance works in; finer digits would only be noise.
  const ms = Number(ns / 1_000_000n) + (Number(ns % 1_000_000n) >= 500_000 ? 1 : 0);
  return ms === 0 ? '0' : (ms / 1000).toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}

export function renderScript(o: { src: CaseSource; opts: ScriptOptions; port: number; remote: string; timeline: readonly Event[] }): string {
  const { src, opts, port, remote, timeline } = o;
  const c = src.case;
  const out: string[] = [];
  out.push(`// tcplab ${src.labId} --case ${c.id}: ${c.title}`);
  out.push(`// Exported by \`tcplab export --packetdrill ${src.labId}:${c.id} --subject ${src.subject}\` from a run on ${src.kernel} (case verdict ${c.verdict}).`);
  out.push(`// The ${src.subject} is the kernel socket under test; packetdrill plays its peer (${remote} in the run).`);
  out.push('// What the lab checked in that run (a failing replay means the kernel now answers otherwise):');
  for (const k of c.checks) out.push(`//   ${k.verdict} ${k.id}: ${k.title}: observed ${JSON.stringify(k.observed)}, expected ${k.expected}`);
  out.push(`--tolerance_usecs=${opts.toleranceUsecs}`);
  out.push(`--tolerance_percent=${opts.tolerancePercent}`);
  out.push('--tcp_ts_ecr_scaled');
  if (port !== 8080) out.push(`--bind_port=${port}`);
  out.push('');
  const sysctls = Object.entries(c.sysctls).filter(([k]) => k.startsWith(`${src.subject}:`));
  let first = true;
  const stamp = (t: string) => {
    const s = first ? (t.includes('...') ? `0${t.slice(t.indexOf('...'))}` : '0') : `+${t}`;
    first = false;
    return s.padStart(7);
  };
  for (const [k, v] of sysctls) {
    const name = k.slice(src.subject.length + 1);
    const value = /\s/.test(v) ? `"${v}"` : v;
    out.push(`${stamp('0')} \`sysctl -q ${name}=${value}\``);
  }
  const t0 = timeline.find((e) => e.lines.length)!.tNs;
  let prevMs = 0n;
  for (const e of timeline) {
    if (e.comment) out.push(`// ${e.comment}`);
    if (!e.lines.length) continue;
    const atMs = (e.tNs - t0 + 500_000n) / 1_000_000n;
    let gap = seconds((atMs - prevMs) * 1_000_000n);
    // Both ends relative to the previous event: `+a~+b` for an outbound packet, `+a...b` for a blocking syscall.
    if (e.endNs !== undefined) gap += `${e.lines[0]!.startsWith('>') ? '~+' : '...'}${seconds(((e.endNs - t0 + 500_000n) / 1_000_000n - prevMs) * 1_000_000n)}`;
    prevMs = atMs;
    e.lines.forEach((l, i) => out.push(`${stamp(i === 0 ? gap : '0')} ${l}`));
  }
  return out.join('\n') + '\n';
}
