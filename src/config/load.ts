// Loads gatehouse.yaml: YAML → ${ENV} interpolation → schema, with every error pointing at a key path and line.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { config as configSchema, grantSchemaFor, type Config, type Connection, type EgressGrant, type Grant } from './schema.ts';

export interface ConfigProblem {
  path: string;
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: ConfigProblem[]) {
    super(`${file}: invalid configuration\n` + problems.map((p) => `  ${formatProblem(p)}`).join('\n'));
  }
}

export const formatProblem = (p: ConfigProblem) => `${p.line ? `line ${p.line}: ` : ''}${p.path || '(root)'}: ${p.message}`;

/** Reads and validates a config file; throws ConfigError listing every problem found. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file = '<config>', env: NodeJS.ProcessEnv = process.env): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (offset: number | undefined) => (offset === undefined ? undefined : lines.linePos(offset).line);
  if (doc.errors.length) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: '', line: lineOf(e.pos[0]), message: e.message.split('\n')[0] })));
  }
  const problems: ConfigProblem[] = interpolateEnv(doc, env, lineOf);
  const located = (path: (string | number)[], message: string, pointAt: (string | number)[] = path): ConfigProblem => ({
    path: path.join('.'),
    line: lineOf(nodeAt(doc, pointAt)?.range?.[0]),
    message,
  });
  /** A schema issue at `prefix`; an unknown key is pointed at itself, not at its parent. */
  const fromIssue = (prefix: (string | number)[], i: z.core.$ZodIssue) => {
    const path = [...prefix, ...(i.path as (string | number)[])];
    return located(path, issueMessage(i), i.code === 'unrecognized_keys' ? [...path, i.keys[0]] : path);
  };

  const raw = (doc.toJS() ?? {}) as { connections?: Record<string, { kind?: unknown }>; roles?: unknown };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => fromIssue([], i)));
  // Grants are checked even when the rest failed, so one run reports every mistake.
  const kinds = new Map(Object.entries(parsed.data?.connections ?? raw.connections ?? {}).map(([name, c]) => [name, c?.kind]));
  const roles: Record<string, Record<string, Grant>> = {};
  const rawRoles = parsed.data?.roles ?? (isRecord(raw.roles) ? (raw.roles as Record<string, unknown>) : {});
  for (const [role, grants] of Object.entries(rawRoles)) {
    roles[role] = {};
    for (const [name, value] of Object.entries(isRecord(grants) ? grants : {})) {
      const kind = kinds.get(name);
      if (kind === undefined) {
        problems.push(located(['roles', role, name], `unknown connection "${name}" (defined: ${[...kinds.keys()].join(', ') || 'none'})`));
        continue;
      }
      if (typeof kind !== 'string' || !Object.hasOwn(grantSchemaFor, kind)) continue; // the connection's own error says why
      const grant = grantSchemaFor[kind as keyof typeof grantSchemaFor].safeParse(value ?? {});
      if (grant.success) roles[role][name] = grant.data;
      else problems.push(...grant.error.issues.map((i) => fromIssue(['roles', role, name], i)));
    }
  }
  if (!parsed.success) throw new ConfigError(file, problems);
  problems.push(...interceptionKeys(parsed.data.connections, roles, located));
  const listens = new Map<string, string>([[parsed.data.admin.listen, 'admin.listen']]);
  for (const [name, c] of Object.entries(parsed.data.connections)) {
    const other = c.listen.endsWith(':0') ? undefined : listens.get(c.listen); // port 0: the OS picks a free one
    if (other) problems.push(located(['connections', name, 'listen'], `${c.listen} is already used by ${other}`));
    listens.set(c.listen, `connections.${name}.listen`);
  }
  if (problems.length) throw new ConfigError(file, problems);
  return { ...parsed.data, roles };
}

/** Replaces ${VAR} in string values (never in keys) so secrets come from the environment, not the file. */
function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv, lineOf: (o?: number) => number | undefined): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
        const value = env[name] ?? fallback;
        if (value === undefined) {
          const keys = path.filter((p) => 'key' in (p as object)).map((p) => String((p as { key: unknown }).key));
          problems.push({ path: keys.join('.'), line: lineOf(node.range?.[0]), message: `environment variable ${name} is not set` });
          return '';
        }
        return value;
      });
    },
  });
  return problems;
}

/** The line of a key path in a config text (for findings that come after validation). */
export function lineOfPath(text: string, path: string): number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const offset = nodeAt(doc, path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)))?.range?.[0];
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function nodeAt(doc: Document, path: (string | number)[]): { range?: [number, number, number] | null } | undefined {
  // Walk down as far as the path exists, so a missing key still points at its parent's line.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] | null } | undefined;
    if (node && typeof node === 'object') return node;
  }
  return undefined;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_union' && 'discriminator' in issue) return `unknown kind (expected ${Object.keys(grantSchemaFor).join(', ')})`;
  return issue.message;
}


/** `allow`, `headers` and `guards` on an egress grant judge what travels inside a tunnel: they need `intercept: true`. */
function interceptionKeys(connections: Record<string, Connection>, roles: Record<string, Record<string, Grant>>, located: (path: (string | number)[], message: string) => ConfigProblem): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [role, grants] of Object.entries(roles)) {
    for (const [name, grant] of Object.entries(grants)) {
      const c = connections[name];
      if (c?.kind !== 'egress' || c.intercept) continue;
      for (const key of ['allow', 'headers', 'guards'] as const) {
        if ((grant as EgressGrant)[key] === undefined) continue;
        problems.push(located(['roles', role, name, key], `judges requests inside TLS tunnels, which needs connections.${name}.intercept: true (without it the egress proxy decides by host and port only)`));
      }
    }
  }
  return problems;
}
