// JSON inputs checked against the published schemas (schema/*.json, shipped in the package), with a
// message that names the path of the first bad field, e.g. "labs[0].cases[2].verdict: must be one of ...".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { packageRoot } from '../wire/native.js';

/** The schemas' $id prefix (a reserved .invalid name: they are read from the package, never fetched). */
const SCHEMA_BASE = 'https://tcplab.invalid/schema/';

export type SchemaName = 'report' | 'inspect' | 'expectations';

let ajv: Ajv | undefined;
const compiled = new Map<SchemaName, ValidateFunction>();

function load(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (v) return v;
  if (!ajv) {
    ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
    // inspect.schema.json refers to the report schema's packet definition.
    for (const n of ['report', 'inspect', 'expectations'] as const) ajv.addSchema(JSON.parse(readFileSync(schemaPath(n), 'utf8')) as object);
  }
  v = ajv.getSchema(`${SCHEMA_BASE}${name}.schema.json`)!;
  compiled.set(name, v);
  return v;
}

export function schemaPath(name: SchemaName): string {
  return join(packageRoot(), 'schema', `${name}.schema.json`);
}

/** '/labs/0/cases/1' -> 'labs[0].cases[1]' (the top level is '(top level)'). */
export function jsonPath(pointer: string, child?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? (out ? `.${p}` : p) : `[${JSON.stringify(p)}]`;
  return out || '(top level)';
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': return `${jsonPath(e.instancePath, String(p.missingProperty))}: missing`;
    case 'additionalProperties': return `${jsonPath(e.instancePath, String(p.additionalProperty))}: not a known field`;
    case 'enum': return `${jsonPath(e.instancePath)}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const': return `${jsonPath(e.instancePath)}: must be ${JSON.stringify(p.allowedValue)}`;
    default: return `${jsonPath(e.instancePath)}: ${e.message ?? e.keyword}`;
  }
}

/** The first problem of `data` against the schema, or undefined when it is valid. */
export function schemaProblem(name: SchemaName, data: unknown): string | undefined {
  const v = load(name);
  if (v(data)) return undefined;
  // oneOf/anyOf report their branches too: the deepest path is the most useful one to show.
  const errs = [...(v.errors ?? [])].filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const pick = (errs.length ? errs : v.errors ?? []).reduce<ErrorObject | undefined>((best, e) => (!best || e.instancePath.length > best.instancePath.length ? e : best), undefined);
  return pick ? describe(pick) : 'does not match the schema';
}
