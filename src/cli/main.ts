// The `gatehouse` command: one file per command group, wired here. Exit codes: 0 ok, 1 refused/failed, 2 usage.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.ts';
import { approvalCommands } from './approvals.ts';
import { auditCommands } from './audit.ts';
import { caCommands } from './ca.ts';
import { CliError } from './client.ts';
import { mcpStdioCommands } from './mcp-stdio.ts';
import { policyCommands } from './policy.ts';
import { serveCommands } from './serve.ts';
import { sessionCommands } from './sessions.ts';
import { tokenCommands } from './tokens.ts';

const program = new Command('gatehouse')
  .description('Identity-aware access gateway for AI agents')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();

serveCommands(program);
tokenCommands(program);
sessionCommands(program);
approvalCommands(program);
auditCommands(program);
policyCommands(program);
caCommands(program);
mcpStdioCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; everything else commander reports is a usage mistake.
    process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2);
  }
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  if (err instanceof CliError) {
    process.stderr.write(`gatehouse: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`gatehouse: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
