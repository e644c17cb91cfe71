// A two-host lab is not run on a stack that offers no partner link: the matrix says why (no boot, no ERROR rows).
import { describe, expect, it } from 'vitest';
import { matrixMarkdown, runMatrix } from '../../src/matrix/matrix.js';
import type { StackFactory } from '../../src/targets/registry.js';
import type { Lab } from '../../src/lab/types.js';

const twoHosts: Lab = { id: 'two-hosts', title: 't', summary: 's', rfcs: [], sources: [], roles: { all: ['client', 'server'], subject: 'client' }, remote: 'link', cases: [{ id: 'c', title: 'c', run: async () => undefined }] };
const localOnly: Lab = { ...twoHosts, id: 'nginx', localOnly: 'needs nginx on the subject' };

describe('matrix with labs a stack cannot host', () => {
  it('does not start a target for them and gives the reason in the table', async () => {
    let started = 0;
    const fake: StackFactory = { id: 'fake', title: 'a target', linkUnsupported: 'fake has no partner link', unavailable: async () => undefined, start: async () => { started++; throw new Error('must not start'); } };
    const m = await runMatrix([twoHosts, localOnly], [fake]);
    expect(started).toBe(0);
    expect(m.stacks[0]!.unsupported).toEqual({ 'two-hosts': 'fake has no partner link', nginx: 'needs nginx on the subject' });
    expect(m.stacks[0]!.unavailable).toBeUndefined();
    const md = matrixMarkdown(m);
    expect(md).toContain('lab:two-hosts did not run on fake: fake has no partner link.');
    expect(md).toContain('lab:nginx did not run on fake: needs nginx on the subject.');
  });
});
