// Process-wide clean-up: SIGINT, SIGTERM, uncaughtException and unhandledRejection dispose every live
// testbed, then exit with the conventional code; the `exit` event does what it still can synchronously.
export interface LiveResource {
  dispose(): Promise<void>;
  disposeSync(): void;
}

const live = new Set<LiveResource>();
let installed = false;
let exiting = false;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
type Sig = keyof typeof SIGNALS;

async function disposeAll(): Promise<void> {
  const all = [...live].reverse();
  await Promise.allSettled(all.map((r) => r.dispose()));
}

function onSignal(sig: Sig): void {
  if (exiting) {
    // A second signal while cleaning up: finish synchronously and go.
    onExit();
    process.exit(128 + SIGNALS[sig]);
  }
  exiting = true;
  void disposeAll().finally(() => process.exit(128 + SIGNALS[sig]));
}

function onFatal(kind: string, err: unknown): void {
  // Only exit when nobody else listens (vitest and other hosts have their own handlers).
  const alone = process.listenerCount(kind as 'uncaughtException') <= 1;
  if (alone) {
    exiting = true;
    console.error(err);
  }
  void disposeAll().finally(() => {
    if (alone) process.exit(1);
  });
}

function onExit(): void {
  for (const r of [...live].reverse()) {
    try {
      r.disposeSync();
    } catch {
      // keep going: every resource gets its chance
    }
  }
  live.clear();
}

const handlers = {
  SIGINT: () => onSignal('SIGINT'),
  SIGTERM: () => onSignal('SIGTERM'),
  SIGHUP: () => onSignal('SIGHUP'),
  uncaughtException: (e: unknown) => onFatal('uncaughtException', e),
  unhandledRejection: (e: unknown) => onFatal('unhandledRejection', e),
  exit: onExit,
};

function install(): void {
  if (installed) return;
  installed = true;
  for (const [ev, h] of Object.entries(handlers)) process.on(ev as 'exit', h as () => void);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  for (const [ev, h] of Object.entries(handlers)) process.off(ev as 'exit', h as () => void);
}

/** Registers a resource for process-wide clean-up (installs the hooks with the first one). */
export function track(r: LiveResource, installHooks = true): void {
  live.add(r);
  if (installHooks) install();
}

/** Unregisters; the hooks go away with the last resource, leaving the process's behaviour as it was. */
export function untrack(r: LiveResource): void {
  live.delete(r);
  if (live.size === 0) uninstall();
}

export function liveCount(): number {
  return live.size;
}
