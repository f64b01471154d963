// `gatehouse audit tail|verify|keygen`
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { AuditRecord } from '../services/store/store.ts';
import { checkCheckpointFile, type AnchorReport, type ChainReader } from '../services/audit/anchor.ts';
import { generateSigningKey, loadPublicKey } from '../services/audit/checkpoint.ts';
import type { ChainsResult } from '../services/audit/log.ts';
import { adminClient, CliError } from './client.ts';
import { printJson, time } from './output.ts';

export function formatAudit(r: AuditRecord): string {
  const d = r.data as Record<string, unknown>;
  const what = d.summary ?? d.reason ?? d.message ?? '';
  const verdict = r.verdict ? ` ${r.verdict.toUpperCase()}` : '';
  const extra = d.rule ? ` [${d.rule}]` : '';
  return `#${r.seq} ${time(r.ts)} ${r.kind}${verdict}${extra} ${r.connection ?? ''} ${r.sessionId ?? ''} ${typeof what === 'string' ? what.replace(/\s+/g, ' ').slice(0, 160) : JSON.stringify(what)}`.replace(/ +/g, ' ').trim();
}

export function auditCommands(program: Command) {
  const audit = program.command('audit').description('read and verify the hash-chained audit log');
  audit.command('tail')
    .description('print the latest audit records')
    .option('-n, --lines <n>', 'how many records', '20')
    .option('-f, --follow', 'keep printing new records')
    .option('--node <id>', "another gateway node's chain, in a shared PostgreSQL store (default: the node asked)")
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (o: { lines: string; follow?: boolean; node?: string; config?: string; json?: boolean }) => {
      const client = adminClient(o);
      const on = o.node ? `&node=${encodeURIComponent(o.node)}` : '';
      const n = Number(o.lines);
      if (!Number.isInteger(n) || n <= 0) throw new CliError('--lines must be a positive integer', 2);
      // Find the end, then read the last n.
      let after = 0;
      for (;;) {
        const { records } = await client.get<{ records: AuditRecord[] }>(`/v1/audit?after=${after}&limit=10000${on}`);
        if (records.length < 10000) { after = (records.at(-1)?.seq ?? after); break; }
        after = records.at(-1)!.seq;
      }
      const { records } = await client.get<{ records: AuditRecord[] }>(`/v1/audit?after=${Math.max(0, after - n)}&limit=${n}${on}`);
      if (o.json && !o.follow) return printJson(records);
      const print = (r: AuditRecord) => process.stdout.write((o.json ? JSON.stringify(r) : formatAudit(r)) + '\n');
      records.forEach(print);
      let last = records.at(-1)?.seq ?? after;
      while (o.follow) {
        await new Promise((r) => setTimeout(r, 500));
        const next = await client.get<{ records: AuditRecord[] }>(`/v1/audit?after=${last}&limit=1000${on}`);
        next.records.forEach(print);
        last = next.records.at(-1)?.seq ?? last;
      }
    });
  audit.command('verify')
    .description('check the hash chain; exits 1 and names the first broken record if the log was altered. With --checkpoints, also checks the chain against signed checkpoints and names truncation, rewriting or rollback')
    .option('--config <file>', 'gateway config')
    .option('--checkpoints <file>', 'the signed checkpoint file (audit.checkpoints.file, or a copy from the log shipper)')
    .option('--public-key <file>', 'the public key the checkpoints are signed with (from audit keygen)')
    .option('--json', 'JSON output')
    .action(async (o: { config?: string; json?: boolean; checkpoints?: string; publicKey?: string }) => {
      if (!o.checkpoints !== !o.publicKey) throw new CliError('--checkpoints and --public-key go together', 2);
      // Read before asking the gateway: a wrong path is the caller's mistake, not a finding.
      const anchor = o.checkpoints ? { text: readLocal(o.checkpoints), key: publicKey(o.publicKey!) } : undefined;
      const client = adminClient(o);
      const result = await client.get<ChainsResult & { head: { seq: number; hash: string } | null }>('/v1/audit/verify');
      const anchored = anchor ? await checkCheckpointFile(anchor.text, anchor.key, apiChains(client, result.head)) : undefined;
      if (o.json) printJson(anchored ? { ...result, anchored } : result);
      else {
        // One line per chain: each node's in a shared store, naming the node and record number of a gap or fork.
        for (const chain of result.chains) {
          const on = chain.node === undefined ? 'audit chain' : `audit chain of node ${chain.node}`;
          process.stdout.write(chain.ok
            ? `${on} verified: ${chain.records} records, no breaks\n`
            : `${on} BROKEN at record #${chain.broken!.seq}: ${chain.broken!.reason} (${chain.records} records verified before it)\n`);
        }
        if (anchored) process.stdout.write(describeAnchors(anchored));
      }
      if (!result.ok || (anchored && !anchored.ok)) process.exitCode = 1;
    });
  audit.command('keygen')
    .description('create the Ed25519 key that signs audit checkpoints: the private key (mode 0600) and KEY.pub beside it')
    .requiredOption('--out <file>', 'where the private key goes (audit.checkpoints.key)')
    .action((o: { out: string }) => {
      let made: ReturnType<typeof generateSigningKey>;
      try {
        made = generateSigningKey(o.out);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new CliError(code === 'EEXIST' ? `${o.out} (or ${o.out}.pub) exists: not overwriting a key whose checkpoints may still need verifying` : `cannot write ${o.out}: ${(err as Error).message}`, 2);
      }
      process.stdout.write(`signing key ${made.keyId}: ${made.privatePath} (keep it off the store's host if you can; mode 0600)\npublic key: ${made.publicPath} (give it to whoever verifies)\n`);
    });
}

function readLocal(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, 2);
  }
}

function publicKey(path: string) {
  try {
    return loadPublicKey(path);
  } catch (err) {
    throw new CliError(`--public-key ${path}: ${(err as Error).message}`, 2);
  }
}

/** The chain as the gateway serves it: one record read per checkpoint compared. */
function apiChains(client: ReturnType<typeof adminClient>, head: { seq: number; hash: string } | null): ChainReader {
  return {
    head: async () => head ?? undefined,
    hashAt: async (_node, seq) => (await client.get<{ records: AuditRecord[] }>(`/v1/audit?after=${seq - 1}&limit=1`)).records.find((r) => r.seq === seq)?.hash,
  };
}

function describeAnchors(r: AnchorReport): string {
  const lines = [
    ...r.problems.map((p) => `checkpoint file: ${p}`),
    ...r.notes.map((n) => `checkpoint file (note): ${n}`),
    ...r.chains.map((c) => `chain of node ${c.node}: ${c.reaches ? 'OK' : c.missing ? 'TRUNCATED OR ROLLED BACK' : 'REWRITTEN'}: ${c.detail} (checkpoint signed ${time(c.checkpoint.ts)})`),
    r.ok ? `checkpoints verified: ${r.checkpoints} signed checkpoint(s), every chain reaches its latest` : 'checkpoints FAILED',
  ];
  return lines.map((l) => `${l}\n`).join('');
}
