// `tcplab inspect <capture> [options]`: the command, ready for src/cli.ts to dispatch to.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderHtml } from '../report/html.js';
import { CaptureFormatError, inspectFile, inspectToJson, renderInspect } from '../inspect/index.js';

export const INSPECT_USAGE = `  tcplab inspect <capture> [options]   read a pcap/pcapng made by anyone (a file, - for stdin, a pipe,
                                       .gz): findings per kind and client -> server:port, port usage,
                                       ladders with each side's TCP state (no root needed; streams)
      --explain        print the rule (RFC section, kernel function) behind each finding
      --json           print the JSON report (schema tcplab.inspect/1) instead of text
      --html FILE      also write a self-contained HTML report to FILE
      --time-wait SEC  how long TIME-WAIT lasts (default 60, Linux TCP_TIMEWAIT_LEN)
      --ports N        ephemeral ports per client for the exhaustion estimate (default 28232)
      --all            list every finding instance, not only counts and examples
      --conn ID        only this connection, drawn whatever its findings (repeatable)
      --max-ladders N  draw at most N ladders, 3 per finding group (default 20)
      --max-packets N  at most N packets per ladder besides findings' own (default 200)
      --max-connections N  also draw the first N connections without findings (default 0)
      --absolute       absolute sequence numbers in ladders`;

type Out = { stdout: (s: string) => void; stderr: (s: string) => void; isTTY: boolean };

const defaultOut: Out = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  get isTTY() { return process.stdout.isTTY === true; },
};

function num(name: string, v: string | undefined, min: number, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new RangeError(`--${name}: must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return n;
}

/** Runs the command; returns the exit code (0 ok, 1 unreadable capture, 2 usage). */
export async function cmdInspect(argv: readonly string[], out: Out = defaultOut): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        explain: { type: 'boolean' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        'time-wait': { type: 'string' },
        ports: { type: 'string' },
        conn: { type: 'string', multiple: true },
        'max-ladders': { type: 'string' },
        'max-packets': { type: 'string' },
        'max-connections': { type: 'string' },
        absolute: { type: 'boolean' },
        all: { type: 'boolean' },
        color: { type: 'boolean' },
        'no-color': { type: 'boolean' },
      },
    }));
  } catch (e) {
    out.stderr(`tcplab inspect: ${e instanceof Error ? e.message : String(e)}\n${INSPECT_USAGE}\n`);
    return 2;
  }
  if (positionals.length !== 1) {
    out.stderr(`tcplab inspect: name one capture file\n${INSPECT_USAGE}\n`);
    return 2;
  }
  let tw: number | undefined, ports: number | undefined, maxLadders: number | undefined, maxPackets: number | undefined;
  let maxConnections: number | undefined, conns: number[] | undefined;
  try {
    tw = num('time-wait', values['time-wait'] as string | undefined, 0.001, false);
    ports = num('ports', values.ports as string | undefined, 1, true);
    maxLadders = num('max-ladders', values['max-ladders'] as string | undefined, 0, true);
    maxPackets = num('max-packets', values['max-packets'] as string | undefined, 1, true);
    maxConnections = num('max-connections', values['max-connections'] as string | undefined, 0, true);
    conns = (values.conn as string[] | undefined)?.map((c) => num('conn', c, 1, true)!);
  } catch (e) {
    out.stderr(`tcplab inspect: ${(e as Error).message}\n`);
    return 2;
  }
  const file = positionals[0]!;
  try {
    const all = values.all as boolean | undefined;
    const absolute = values.absolute as boolean | undefined;
    const report = await inspectFile(file, { timeWaitMs: tw === undefined ? undefined : tw * 1000, ports, maxLadders, maxPackets, maxConnections, conns, all });
    for (const w of report.warnings) out.stderr(`tcplab inspect: ${file}: ${w}\n`);
    const json = () => inspectToJson(report, { conns, maxPackets });
    if (values.html) writeFileSync(values.html as string, renderHtml(json(), { maxLadders, maxPackets, absolute }));
    if (values.json) {
      out.stdout(JSON.stringify(json(), null, 2) + '\n');
    } else {
      const color = values['no-color'] ? false : (values.color as boolean | undefined) ?? out.isTTY;
      out.stdout(renderInspect(report, { color, explain: values.explain as boolean | undefined, absolute, maxLadders, maxPackets, conns, all }) + '\n');
    }
    if (values.html) out.stderr(`tcplab inspect: HTML report written to ${values.html as string}\n`);
    return 0;
  } catch (e) {
    if (e instanceof CaptureFormatError || (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EISDIR' || (e as NodeJS.ErrnoException).code === 'EACCES') {
      out.stderr(`tcplab inspect: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
