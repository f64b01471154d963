// What the listener learns from its upstream once, at start-up: version and flavour, capabilities, character sets, name case.
import { Capability } from './codec/constants.ts';
import type { ServerFlavor } from './sql/lexer.ts';
import { SERVER_CAPABILITIES } from './accept.ts';
import { connectUpstream, runQuery, type UpstreamTarget } from './upstream.ts';

export interface UpstreamProfile {
  /** The version string clients are shown (the upstream's own, so drivers enable the same features). */
  version: string;
  flavor: ServerFlavor;
  capabilities: number;
  /** A UTF-8 collation the upstream knows: announced in the greeting, and used for clients whose own it does not know. */
  charset: number;
  /** Collation id → character set name, as the upstream knows them. */
  collations: ReadonlyMap<number, string>;
  /** lower_case_table_names = 0: table and database names are case-sensitive. */
  caseSensitive: boolean;
}

/** 10.11.19 → 101119 and 8.0.36 → 80036, as the server compares executable-comment versions; MariaDB's "5.5.5-" prefix dropped. */
export function flavorOf(version: string): ServerFlavor {
  const mariadb = /mariadb/i.test(version);
  const [major = 0, minor = 0, patch = 0] = (version.replace(/^5\.5\.5-/, '').match(/^(\d+)\.(\d+)\.(\d+)/)?.slice(1) ?? []).map(Number);
  return { mariadb, version: major * 10000 + minor * 100 + patch };
}

export async function probeUpstream(target: UpstreamTarget, timeoutMs: number): Promise<UpstreamProfile> {
  const up = await connectUpstream(target, { capabilities: SERVER_CAPABILITIES, charset: 45, timeoutMs });
  try {
    const collations = await runQuery(up, 'SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS', timeoutMs);
    const [[lower] = []] = await runQuery(up, 'SELECT @@lower_case_table_names', timeoutMs);
    const known = new Map(collations.map(([id, charset]) => [Number(id), String(charset)]));
    const utf8mb4 = (id: number) => known.get(id) === 'utf8mb4';
    const charset = utf8mb4(up.greeting.charset) ? up.greeting.charset : utf8mb4(45) ? 45 : [...known].find(([, c]) => c === 'utf8mb4')?.[0];
    if (charset === undefined) throw new Error('the upstream knows no utf8mb4 collation');
    return {
      version: up.greeting.serverVersion,
      flavor: flavorOf(up.greeting.serverVersion),
      capabilities: up.greeting.capabilities & ~Capability.SSL,
      charset,
      collations: known,
      caseSensitive: lower === '0',
    };
  } finally {
    up.socket.end();
  }
}
