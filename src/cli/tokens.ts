// `gatehouse token create|list|revoke`
import type { Command } from 'commander';
import type * as Wire from '../admin/console/wire.ts';
import { adminClient } from './client.ts';
import { printJson, printTable, time } from './output.ts';

type TokenView = Wire.TokenView & { token?: string };

export function tokenCommands(program: Command) {
  const token = program.command('token').description('issue, list and revoke agent tokens');
  token.command('create')
    .description('create a token for one chain step (shown once)')
    .requiredOption('--role <role>', 'role from the config')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 2h', '15m')
    .option('--label <label>', 'step label; also the user name PostgreSQL clients connect with')
    .option('--config <file>', 'gateway config (admin address and key)')
    .option('--json', 'print {"id", "token", ...} as JSON')
    .action(async (o: { role: string; ttl: string; label?: string; config?: string; json?: boolean }) => {
      const t = await adminClient(o).post<TokenView>('/v1/tokens', { role: o.role, ttl: o.ttl, label: o.label ?? o.role });
      if (o.json) return printJson(t);
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(`token ${t.id} for role ${t.role}, label ${t.label}, expires ${time(t.expiresAt)} — it is shown only once\n`);
    });
  token.command('list')
    .description('list tokens with their status and last use')
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (o: { config?: string; json?: boolean }) => {
      const { tokens } = await adminClient(o).get<{ tokens: TokenView[] }>('/v1/tokens');
      if (o.json) return printJson(tokens);
      printTable(tokens.map((t) => ({ ...t, expires: time(t.expiresAt), 'last used': time(t.lastUsedAt) })), ['id', 'label', 'role', 'status', 'expires', 'last used']);
    });
  token.command('revoke <id>')
    .description('revoke a token; its live sessions are closed at once')
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { config?: string; json?: boolean }) => {
      const t = await adminClient(o).post<TokenView & { alreadyRevoked: boolean }>(`/v1/tokens/${encodeURIComponent(id)}/revoke`);
      if (o.json) return printJson(t);
      process.stdout.write(t.alreadyRevoked ? `token ${t.id} was already revoked\n` : `revoked ${t.id} (${t.label}); its sessions were closed\n`);
    });
}
