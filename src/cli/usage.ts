// The help texts: one per command, so `tcplab help CMD` and `tcplab CMD --help` print just that command.
import { INSPECT_USAGE } from './inspect.js';
import { MATRIX_USAGE } from './matrix.js';
import { STACKS } from '../targets/registry.js';
import { SERVE_USAGE } from './serve.js';
import { EXPORT_USAGE } from './export.js';

const LIST = `  tcplab list                       the labs and their cases, and where each can run`;

const RUN = `  tcplab run <lab|all> [options]    run a lab (root: namespaces and raw sockets; see README "Install")
      --case ID        only this case (repeatable)
      --json           print the JSON report on stdout (progress goes to stderr)
      --json-file F    also write the JSON report to F
      --tap            print TAP 13 (one test point per check) on stdout instead of text
      --ktap           print KTAP v1 as kselftest does (lab > cases > checks, nested) on stdout
      --html F         write a self-contained HTML report (SVG ladders) to F
      --explain        narrate each TIME-WAIT event with the rule behind it (RFC section, kernel function)
      --step           classroom mode: before each step show what it does and why, wait for Enter;
                       the ladder grows packet by packet as the kernel answers (Ctrl-C cleans up)
      --step-delay S   as --step, but each step runs by itself after S seconds (Enter: at once)
      --pcap DIR       where pcaps go (default ./tcplab-out; --no-pcap for none)
      --no-pcap        write no pcap
      --pcap-format F  pcapng (default: one interface per capture point, each packet commented with
                       its step, TCP states, checks and findings; tshark -Y frame.comment) or pcap (classic)
      --width N        text width of ladders (default: the terminal's, else 100)
      --keep           leave namespaces in place for inspection (remove with tcplab clean)
      --jobs N         run up to N cases at once (each has its own namespaces); output stays in order
      --target STACK   the subject's kernel (or stack) runs there, its partner in namespaces of this
                       machine: ${STACKS.filter((s) => !s.local).map((s) => s.id).join(', ')}, or
                       ssh:NAME (a VM over ssh: a Host alias of $TCPLAB_SSH_CONFIG, ./.vagrant/ssh-NAME
                       or ~/.ssh/config, or user@host); tcplab list says where each lab runs
      --subject ROLE   which host is on trial (labs with more than one, e.g. lastack: client|server)
      --kernel FILE    boot a kernel you built (bzImage, or vmlinux with a PVH note) in QEMU as the target
      --modules DIR    with --kernel: its modules (lib/modules/RELEASE) when virtio-net is not built in
      --slow           with 'all': include slow labs
      --absolute       absolute sequence numbers in ladders
      --tolerance-scale N   widen timing tolerances (slow VMs), same as TCPLAB_TOLERANCE_SCALE
      --expectations F      JSON file {"case/check": {"linux": [{"versions": ">=6.1", "expect": ...}]}}
                            replacing the built-in expectations of those checks (schema/expectations.schema.json)`;

const REPORT = `  tcplab report <report.json> --html F   turn a saved --json report (or an inspect --json) into HTML
      --html F         the HTML file to write`;

const CLEAN = `  tcplab clean                      remove what a killed run left behind (tcplab-* only; root)`;

const HELP = `  tcplab help [COMMAND]             this text, or one command's; also tcplab COMMAND --help
  tcplab --version                  the version`;

export const EXIT_CODES = `exit codes: 0 as expected, 1 a behaviour differs (DIFFERS), 2 usage (bad flag or input file),
  3 could not run (ERROR, missing privileges, a target that did not start), 4 not applicable here
  (kselftest's skip: e.g. the lab cannot run on that target), 130 interrupted`;

export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  list: LIST,
  run: RUN,
  report: REPORT,
  clean: CLEAN,
  matrix: MATRIX_USAGE,
  serve: SERVE_USAGE,
  inspect: INSPECT_USAGE,
  export: EXPORT_USAGE,
  help: HELP,
};

export const COMMANDS = Object.keys(COMMAND_USAGE);

export function usage(command?: string): string {
  const one = command === undefined ? undefined : COMMAND_USAGE[command];
  if (one !== undefined) return `usage:\n${one}\n\n${EXIT_CODES}`;
  return `usage:\n${Object.values(COMMAND_USAGE).join('\n')}\n\n${EXIT_CODES}`;
}
