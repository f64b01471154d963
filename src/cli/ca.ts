// `gatehouse ca export`: prints an intercepting egress connection's CA certificate for agents' trust stores (made now,
// as at first start, when its files do not exist yet, so agents can be set up before the gateway runs).
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.ts';
import { loadCa } from '../adapters/egress/ca.ts';
import { CliError } from './client.ts';

export function caCommands(program: Command) {
  const ca = program.command('ca').description('the egress interception CA');
  ca.command('export')
    .description('print the CA certificate (PEM) agents must trust: NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, SSL_CERT_FILE')
    .requiredOption('--config <file>', 'gatehouse.yaml')
    .option('--connection <name>', 'the egress connection (needed when several intercept)')
    .action(async (o: { config: string; connection?: string }) => {
      const config = loadConfigFile(o.config);
      const intercepting = Object.entries(config.connections).filter(([name, c]) => c.kind === 'egress' && c.intercept && (!o.connection || name === o.connection));
      if (!intercepting.length) throw new CliError(o.connection ? `connection "${o.connection}" is not an egress connection with intercept: true` : 'no egress connection has intercept: true', 1);
      if (intercepting.length > 1) throw new CliError(`several connections intercept (${intercepting.map(([n]) => n).join(', ')}): name one with --connection`, 2);
      const [name, conn] = intercepting[0];
      if (conn.kind !== 'egress') return;
      const loaded = await loadCa(conn.ca, `connections.${name}.ca`);
      process.stdout.write(loaded.certPem.endsWith('\n') ? loaded.certPem : loaded.certPem + '\n');
    });
}
