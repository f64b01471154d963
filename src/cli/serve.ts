// `gatehouse serve` (a config file; `--workers N` processes) and `gatehouse demo` (the embedded default, what `npm start` runs).
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfigFile } from '../config/load.ts';
import { parseDuration } from '../config/duration.ts';
import { configSecrets } from '../config/secrets.ts';
import { configDir, startGateway } from '../main.ts';
import { startDemo } from '../demo/demo.ts';
import { createLogger, type Logger } from '../services/telemetry/logger.ts';
import { checkWorkersStore, superviseWorkers, workerNode, workerReady } from './workers.ts';

export function serveCommands(program: Command) {
  program.command('serve')
    .description('run the gateway with a config file')
    .requiredOption('--config <file>', 'gatehouse.yaml')
    .option('--workers <n>', 'gateway processes sharing the listeners, to use several cores (needs store: postgres://...)', processCount, 1)
    .action(async (o: { config: string; workers: number }) => {
      const config = loadConfigFile(o.config);
      checkWorkersStore(config, o.workers);
      const log = createLogger({ level: config.log_level, secrets: configSecrets(config) });
      if (o.workers > 1 && cluster.isPrimary) return superviseWorkers(o.workers, log);
      // Signals are handled from the start: a SIGTERM during start-up stops the gateway as soon as it is up.
      const starting = startGateway(workerNode(config, hostname()), { baseDir: configDir(o.config), log });
      const drainMs = parseDuration(config.drain_timeout) * 1000;
      stopOnSignal(async () => (await starting).close(drainMs), log);
      await starting;
      if (cluster.isWorker) workerReady();
    });
  program.command('demo')
    .description('run an embedded demo: in-process PostgreSQL, demo HTTP API and LLM, tokens for three chain steps')
    .action(async () => {
      const demo = await startDemo();
      process.stdout.write(demo.instructions);
      stopOnSignal(() => demo.close(), demo.gateway.services.log);
    });
}

/**
 * SIGTERM (or SIGINT) stops gracefully: `close` drains, then the process exits 0 (1 if stopping failed). A second signal
 * exits at once. In a worker of `serve --workers`, SIGINT is left to the primary, which relays it as SIGTERM: a terminal's
 * Ctrl-C reaches every process of the group, and would otherwise count twice.
 */
function stopOnSignal(close: () => Promise<void>, log: Logger) {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    close().then(() => process.exit(0), (err: Error) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', cluster.isWorker ? () => undefined : stop);
}

function processCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of processes, 1 or more');
  return n;
}
