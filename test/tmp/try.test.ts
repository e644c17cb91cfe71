import { it } from 'vitest';
import { inspectFile, renderInspect } from '../../src/inspect/index.js';
it('try', async () => {
  for (const f of (process.env.F ?? '').split(',')) {
    const r = await inspectFile(f);
    console.log(renderInspect(r, { explain: !!process.env.EXPLAIN }));
  }
});
