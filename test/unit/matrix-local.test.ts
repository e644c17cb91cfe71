// A lab that builds two local hosts is not run on other stacks: the matrix says so (no boot, no ERROR rows).
import { describe, expect, it } from 'vitest';
import { matrixMarkdown, runMatrix } from '../../src/matrix/matrix.js';
import type { StackFactory } from '../../src/matrix/stacks.js';
import type { Lab } from '../../src/lab/types.js';

const localLab: Lab = { id: 'two-hosts', title: 't', summary: 's', rfcs: [], sources: [], cases: [{ id: 'c', title: 'c', run: async () => undefined }] };

describe('matrix with a local-only lab', () => {
  it('does not start a target for it and marks its column n/a', async () => {
    let started = 0;
    const fake: StackFactory = { id: 'fake', title: 'a target', unavailable: async () => undefined, start: async () => { started++; throw new Error('must not start'); } };
    const m = await runMatrix([localLab], [fake]);
    expect(started).toBe(0);
    expect(m.stacks[0]!.localOnly).toEqual(['two-hosts']);
    expect(m.stacks[0]!.unavailable).toBeUndefined();
    expect(matrixMarkdown(m)).toContain("lab:two-hosts builds two hosts on this machine's kernel, so it did not run on fake.");
  });
});
