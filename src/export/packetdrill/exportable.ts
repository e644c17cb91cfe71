// Which lab cases can become a packetdrill script, and why the others cannot. packetdrill plays the
// remote end itself and drives one kernel socket under test through its syscalls, so a case exports when
// its subject is a kernel socket on this machine that listens (passive open), talks to one remote 4-tuple,
// and whose verdict rests on segments the subject sends and receives.

/** Labs whose cases this exporter was written and verified for (docs/packetdrill.md has the figures). */
export const EXPORT_LABS = ['timewait-syn', 'rfc1337', 'paws', 'lastack', 'reuse'] as const;

const ACTIVE_OPEN =
  'the kernel socket on trial is the client connecting out, and the verdict is what connect() of a second socket ' +
  'does with the port of a TIME-WAIT (tcp_twsk_unique()), retried every 50 ms until tcp_tw_reuse_delay passes; ' +
  'the exporter writes passive-open scripts only (the subject listens, packetdrill connects), and a retry loop of ' +
  'connect() calls whose count depends on timing is no fixed script';
const LOOPBACK = "the reconnect that matters goes over loopback (tcp_tw_reuse=2 is loopback-only), and packetdrill's traffic goes over its tun device, never lo";
const OWN_ACK_LOST =
  "the subject's own last ACK is dropped by nftables on its way out; packetdrill sees every segment the kernel " +
  "sends, so the script must expect that ACK, but the capture (at the server's end) never saw it";

/**
 * Why `lab`/`caseId` with this subject cannot be exported (undefined: it can). Known before the case runs,
 * so the CLI refuses without running it.
 */
export function exportRefusal(labId: string, caseId: string, subject: string, target: string | undefined): string | undefined {
  if (target !== undefined) return `--target ${target}: packetdrill runs against this machine's kernel; export a local run (no --target)`;
  if (!(EXPORT_LABS as readonly string[]).includes(labId)) {
    return `lab ${labId} is not covered by the packetdrill exporter (covered: ${EXPORT_LABS.join(', ')})`;
  }
  if (labId === 'reuse') {
    if (subject === 'client') return `${ACTIVE_OPEN}; try --subject server for the server's side of the story`;
    if (caseId === 'reuse2') return LOOPBACK;
  }
  if (labId === 'lastack' && subject === 'client') return `the client connects out (active open), and ${OWN_ACK_LOST}; with --subject server (the default) the case exports`;
  return undefined;
}
