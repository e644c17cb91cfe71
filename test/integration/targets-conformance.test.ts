// The target contract (test/helpers/target-contract.ts) on one target of each kind: a QEMU guest kernel,
// gVisor, slirp and lwIP. A new kind of target joins this list.
import { afterAll, describe, it } from 'vitest';
import { findStack } from '../../src/targets/registry.js';
import type { LabTarget } from '../../src/lab/stack.js';
import { requireRoot } from '../helpers/root.js';
import { checkTargetContract } from '../helpers/target-contract.js';

const KINDS = ['linux-6.12-qemu', 'gvisor', 'slirp', 'lwip'];

describe('every kind of target keeps the contract labs rely on (root)', () => {
  requireRoot();
  const started: LabTarget[] = [];
  afterAll(async () => {
    for (const t of started) await t.dispose().catch(() => undefined);
  }, 60_000);

  for (const id of KINDS) {
    it(`${id}: identity, a safe probe session, sysctls/counters/sockets as declared, a handshake, idempotent dispose`, async () => {
      const f = findStack(id);
      const why = await f.unavailable();
      if (why) throw new Error(`${id} cannot start here (${why}): run guest/ci-setup.sh (scripts/setup-test.sh does)`);
      const t = (await f.start())!;
      started.push(t);
      await checkTargetContract(t);
      await t.dispose();
      await t.dispose();
    }, 120_000);
  }
});
