// `serve --workers` without a gateway: the real supervisor (src/cli/workers.ts) and metrics aggregation over a tiny
// HTTP worker, so sharing one port, restarts, stopping and /metrics across workers are tested before a multi-process
// store exists. GATEHOUSE_FIXTURE_FAIL=1 makes every worker fail before it is ready.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { superviseWorkers, workerReady } from '../../src/cli/workers.ts';
import { Metrics } from '../../src/services/telemetry/metrics.ts';

const log = pino({ level: 'info' }, pino.destination({ dest: 2, sync: true }));

if (cluster.isPrimary) superviseWorkers(2, log);
else if (process.env.GATEHOUSE_FIXTURE_FAIL) process.exit(4);
else {
  const metrics = new Metrics(log);
  const server = createServer(async (req, res) => {
    res.setHeader('x-pid', String(process.pid));
    if (req.url === '/count') metrics.request('crm', 'postgres', 'ses_fixture').end('forward');
    if (req.url === '/crash') return res.end('bye', () => process.exit(3));
    res.end(req.url === '/metrics' ? await metrics.text() : 'ok');
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ pid: process.pid, port: (server.address() as AddressInfo).port })}\n`);
    workerReady();
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  process.on('SIGINT', () => undefined);
}
