// `gatehouse approvals list|approve|deny`: the human checkpoint, from a terminal.
import type { Command } from 'commander';
import type { ApprovalRecord } from '../services/store/store.ts';
import { adminClient } from './client.ts';
import { printJson, printTable, time } from './output.ts';

export function approvalCommands(program: Command) {
  const approvals = program.command('approvals').description('review requests held for a human');
  approvals.command('list')
    .description('pending requests (or --status all|approved|denied|expired|withdrawn|failed|used)')
    .option('--status <status>', 'which requests', 'pending')
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (o: { status: string; config?: string; json?: boolean }) => {
      const { approvals: list } = await adminClient(o).get<{ approvals: ApprovalRecord[] }>(`/v1/approvals?status=${encodeURIComponent(o.status)}`);
      if (o.json) return printJson(list);
      printTable(list.map((a) => ({ ...a, who: `${a.label} (${a.role})`, asks: a.summary.replace(/\s+/g, ' '), expires: time(a.expiresAt), votes: `${a.decisions.filter((d) => d.decision === 'approve').length}/${a.required}` })),
        ['id', 'status', 'who', 'connection', 'asks', 'reason', 'votes', 'expires']);
    });
  for (const decision of ['approve', 'deny'] as const) {
    const command = approvals.command(`${decision} <id>`)
      .description(decision === 'approve' ? 'let the held request through (once, or --for a window)' : 'refuse the held request')
      .option('--reason <text>', 'shown to the agent and kept in the audit');
    if (decision === 'approve') command.option('--for <duration>', 'also allow this exact request again until then (e.g. 10m)');
    command
      .option('--config <file>', 'gateway config (uses its first approver key)')
      .option('--json', 'JSON output')
      .action(async (id: string, o: { reason?: string; for?: string; config?: string; json?: boolean }) => {
        const record = await adminClient(o, 'approver').post<ApprovalRecord>(`/v1/approvals/${encodeURIComponent(id)}/${decision}`, { reason: o.reason, for: decision === 'approve' ? o.for : undefined });
        if (o.json) return printJson(record);
        const votes = record.decisions.filter((d) => d.decision === 'approve').length;
        process.stdout.write(record.status === 'pending' ? `recorded; ${votes}/${record.required} approvals so far\n` : `${record.id} is now ${record.status}\n`);
      });
  }
}
