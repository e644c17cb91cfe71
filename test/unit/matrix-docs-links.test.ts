// The committed matrices (docs/matrix, docs/versions) are read on the forge: every relative link in
// their Markdown and HTML must name a file that is on disk and not ignored by git (a *.pcap ignored
// by git is a 404 there), and the three formats must name the same files.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const dirs = ['docs/matrix', 'docs/versions'];

const mdLinks = (s: string) => [...s.matchAll(/\]\(([^)\s]+)\)/g)].map((x) => x[1]!);
const htmlLinks = (s: string) => [...s.matchAll(/href="([^"]+)"/g)].map((x) => x[1]!.replace(/&amp;/g, '&'));
const relative = (l: string) => !/^[a-z][\w+.-]*:/i.test(l) && !l.startsWith('#');

function ignored(paths: string[]): string[] {
  if (!paths.length) return [];
  try {
    // check-ignore prints the ignored ones and exits 1 when there are none.
    return execFileSync('git', ['check-ignore', '--no-index', ...paths], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch (e) {
    const err = e as { status?: number; stdout?: string };
    if (err.status === 1) return [];
    throw e;
  }
}

describe.each(dirs)('%s', (dir) => {
  const files = ['matrix.md', 'matrix.html'].map((f) => join(root, dir, f)).filter(existsSync);

  it('has a Markdown matrix', () => {
    expect(files.map((f) => f.slice(root.length + 1))).toContain(`${dir}/matrix.md`);
  });

  it.each(files.map((f) => [f.slice(root.length + 1), f]))('every relative link of %s resolves to a committed file', (_, file) => {
    const text = readFileSync(file, 'utf8');
    const links = (file.endsWith('.md') ? mdLinks(text) : htmlLinks(text)).filter(relative).map((l) => decodeURI(l.split('#')[0]!));
    const targets = [...new Set(links.map((l) => join(dirname(file), l)))];
    const missing = targets.filter((t) => !existsSync(t));
    expect(missing.map((t) => t.slice(root.length + 1))).toEqual([]);
    expect(ignored(targets.map((t) => t.slice(root.length + 1)))).toEqual([]);
  });

  it('Markdown, HTML and JSON name the same files', () => {
    const md = join(root, dir, 'matrix.md');
    const html = join(root, dir, 'matrix.html');
    const json = join(root, dir, 'matrix.json');
    if (!existsSync(html) || !existsSync(json)) return; // a table without the run's evidence (links: false)
    const fromMd = new Set(mdLinks(readFileSync(md, 'utf8')).filter(relative));
    const fromHtml = new Set(htmlLinks(readFileSync(html, 'utf8')).filter(relative));
    const m = JSON.parse(readFileSync(json, 'utf8')) as { rows: Array<{ cells: Record<string, { pcap?: string; report?: string }> }> };
    const fromJson = new Set(m.rows.flatMap((r) => Object.values(r.cells).flatMap((c) => [c.pcap, c.report])).filter((x): x is string => !!x));
    expect(fromHtml).toEqual(fromMd);
    expect(fromJson).toEqual(fromMd);
  });
});

describe('README', () => {
  it('links the committed matrices by paths that resolve to committed files', () => {
    const links = mdLinks(readFileSync(join(root, 'README.md'), 'utf8')).filter(relative).map((l) => l.split('#')[0]!).filter((l) => l.startsWith('docs/'));
    expect(links).toEqual(expect.arrayContaining(['docs/matrix/matrix.md', 'docs/matrix/matrix.html', 'docs/versions/matrix.md']));
    expect(links.filter((l) => !existsSync(join(root, l)))).toEqual([]);
    expect(ignored(links)).toEqual([]);
  });
});
