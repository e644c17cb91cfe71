// A closed Wire must be collectable: the native capture held its onPackets callback (which closes over
// the Wire) as a strong reference after close(), so every closed Wire kept itself and all its captured
// packets alive for the life of the process (found by test/fuzz/memory.ts).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { Wire } from '../../src/wire/wire.js';
import { openCapture } from '../../src/wire/capture.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  return ref.deref() === undefined;
}

describe('closed captures release what their callback holds', () => {
  requireRoot();
  let tb: Testbed;
  beforeAll(async () => { tb = await Testbed.create({ hosts: ['a', 'b'] }); }, 30_000);
  afterAll(async () => { await tb?.dispose(); });

  it('a Wire that saw traffic and was closed is garbage-collected with its packets', async () => {
    const make = async () => {
      const w = await Wire.open({ ifname: tb.host('b').iface().ifname, netns: tb.host('b').netns });
      const sender = await Wire.open({ ifname: tb.host('a').iface().ifname, netns: tb.host('a').netns });
      const t0 = w.now();
      sender.send({ src: tb.host('a').addr(), dst: tb.host('b').addr(), sport: 40000, dport: 9, seq: 1, flags: 'S' });
      await w.expect({ sport: 40000 }, { since: t0 });
      sender.close();
      w.close();
      return [new WeakRef(w), new WeakRef(sender)] as const;
    };
    const [w, s] = await make();
    expect(await collected(s)).toBe(true);
    expect(await collected(w)).toBe(true);
  });

  it('a capture closed from inside its own callback, with a cycle through it, is collected too', async () => {
    const make = async () => {
      const owner: { cap?: ReturnType<typeof openCapture>; n: number } = { n: 0 };
      const done = new Promise<void>((resolve) => {
        owner.cap = openCapture({
          ifname: 'lo', onPackets: (b) => { owner.n += b.length; owner.cap!.close(); resolve(); },
        });
      });
      const w = await Wire.open({ ifname: 'lo' });
      w.send({ src: '127.0.0.1', dst: '127.0.0.1', sport: 40001, dport: 9, seq: 1, flags: 'S' });
      await done;
      w.close();
      return new WeakRef(owner);
    };
    expect(await collected(await make())).toBe(true);
  });
});
