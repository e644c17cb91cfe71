// Screenshots for CI to keep as artifacts (.ci/artifacts/, ignored by git): the HTML matrix rendered from
// the committed docs/matrix/matrix.json (a real run), and the lab report of a real run (timewait-syn on
// Linux 6.18, test/fixtures/report-timewait-syn.json), each at a laptop's and a projector's width. Each
// must load without a console error or a blocked fetch and be a PNG of the window's size with content.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matrixHtml } from '../../src/matrix/html.js';
import type { MatrixResult } from '../../src/matrix/types.js';
import { renderHtml } from '../../src/report/html.js';
import type { ReportJson } from '../../src/report/json.js';
import { ARTIFACTS, browse, findChromium, pngSize } from '../helpers/chromium.js';

const root = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tcplab-shots-'));
let chromium = '';

beforeAll(() => {
  chromium = findChromium();
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function shoot(html: string, name: string, width: number, height: number): string {
  const file = join(dir, `${name}.html`);
  writeFileSync(file, html);
  const png = join(ARTIFACTS, `${name}-${width}.png`);
  rmSync(png, { force: true });
  const r = browse(chromium, dir, file, { screenshot: png, width, height });
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  expect(r.pageErrors).toEqual([]);
  expect(pngSize(png)).toEqual([width, height]);
  return png;
}

describe('screenshots kept as CI artifacts (.ci/artifacts/)', () => {
  it('the HTML matrix of the committed run', () => {
    const m = JSON.parse(readFileSync(join(root, 'docs', 'matrix', 'matrix.json'), 'utf8')) as MatrixResult;
    const html = matrixHtml(m);
    for (const [w, h] of [[1280, 2400], [1920, 1080]] as const) {
      const png = shoot(html, 'matrix', w, h);
      // A blank or unstyled page compresses to a few KB; the matrix's coloured tables do not.
      expect(statSync(png).size, png).toBeGreaterThan(60_000);
    }
  });

  it('the lab report of a real run (timewait-syn, Linux 6.18)', () => {
    const report = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'report-timewait-syn.json'), 'utf8')) as ReportJson;
    const html = renderHtml(report);
    for (const [w, h] of [[1280, 2400], [1920, 1080]] as const) {
      const png = shoot(html, 'lab-report', w, h);
      expect(statSync(png).size, png).toBeGreaterThan(60_000);
    }
    writeFileSync(join(ARTIFACTS, 'lab-report.html'), html);
  });
});
