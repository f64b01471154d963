// `gatehouse audit tail|verify`
import type { Command } from 'commander';
import type { AuditRecord } from '../services/store/store.ts';
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
    .description('check the hash chain; exits 1 and names the first broken record if the log was altered')
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (o: { config?: string; json?: boolean }) => {
      const result = await adminClient(o).get<ChainsResult>('/v1/audit/verify');
      if (o.json) printJson(result);
      else {
        // One line per chain: each node's in a shared store, naming the node and record number of a gap or fork.
        for (const chain of result.chains) {
          const on = chain.node === undefined ? 'audit chain' : `audit chain of node ${chain.node}`;
          process.stdout.write(chain.ok
            ? `${on} verified: ${chain.records} records, no breaks\n`
            : `${on} BROKEN at record #${chain.broken!.seq}: ${chain.broken!.reason} (${chain.records} records verified before it)\n`);
        }
      }
      if (!result.ok) process.exitCode = 1;
    });
}
