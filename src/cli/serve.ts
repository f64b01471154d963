// `gatehouse serve` (a config file) and `gatehouse demo` (the embedded default, what `npm start` runs).
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.ts';
import { configDir, startGateway, type Gateway } from '../main.ts';
import { startDemo } from '../demo/demo.ts';

export function serveCommands(program: Command) {
  program.command('serve')
    .description('run the gateway with a config file')
    .requiredOption('--config <file>', 'gatehouse.yaml')
    .action(async (o: { config: string }) => {
      const config = loadConfigFile(o.config);
      const gateway = await startGateway(config, { baseDir: configDir(o.config) });
      stopOnSignal(gateway);
    });
  program.command('demo')
    .description('run an embedded demo: in-process PostgreSQL, demo HTTP API and LLM, tokens for three chain steps')
    .action(async () => {
      const demo = await startDemo();
      process.stdout.write(demo.instructions);
      stopOnSignal(demo);
    });
}

function stopOnSignal(gateway: Pick<Gateway, 'close'>) {
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write('gatehouse: shutting down\n');
    gateway.close().then(() => process.exit(0), (err: Error) => { process.stderr.write(`${err.stack}\n`); process.exit(1); });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
