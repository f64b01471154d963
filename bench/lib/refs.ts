// The reference proxies, started by the bench itself on loopback ports with generated configs in a temp dir:
// pgbouncer, nginx, twemproxy (and a redis-server of the bench's own). No system service is started, stopped or reconfigured.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { have, startService, waitForPort, type Service } from './proc.ts';

const PGBOUNCER = ['/usr/sbin/pgbouncer', 'pgbouncer'];
const NGINX = ['/usr/sbin/nginx', 'nginx'];
const NUTCRACKER = ['/usr/sbin/nutcracker', 'nutcracker'];
const REDIS_SERVER = ['/usr/bin/redis-server', 'redis-server'];

async function find(candidates: string[]): Promise<string | undefined> {
  for (const c of candidates) if (await have(c)) return c;
  return undefined;
}

export interface PgbouncerDb {
  name: string;
  dbname: string;
  poolMode: 'session' | 'transaction';
  poolSize: number;
}

/**
 * pgbouncer with `auth_type = any` (the bench's clients are local; auth happens once per connection and is not measured)
 * and the upstream's trust auth. It refuses to run as root, so as root it drops to the `postgres` user (-u).
 */
export async function startPgbouncer(dir: string, port: number, upstream: { host: string; port: number; user: string }, dbs: PgbouncerDb[]): Promise<Service | string> {
  const bin = await find(PGBOUNCER);
  if (!bin) return 'pgbouncer is not installed (run scripts/bench-setup.sh)';
  const home = join(dir, 'pgbouncer');
  mkdirSync(home, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(home, 0o777);
  const ini = [
    '[databases]',
    ...dbs.map((d) => `${d.name} = host=${upstream.host} port=${upstream.port} dbname=${d.dbname} user=${upstream.user} pool_mode=${d.poolMode} pool_size=${d.poolSize}`),
    '[pgbouncer]',
    `listen_addr = 127.0.0.1`,
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = any',
    'max_client_conn = 2000',
    'default_pool_size = 20',
    'ignore_startup_parameters = extra_float_digits,options',
    `logfile = ${join(home, 'pgbouncer.log')}`,
    'log_connections = 0',
    'log_disconnections = 0',
    'server_reset_query =',
  ].join('\n');
  const file = join(home, 'pgbouncer.ini');
  writeFileSync(file, ini + '\n');
  chmodSync(file, 0o644);
  const asRoot = process.getuid?.() === 0;
  const service = startService('pgbouncer', bin, [...(asRoot ? ['-u', 'postgres'] : []), file]);
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    await service.stop();
    return `pgbouncer did not start: ${(err as Error).message}\n${service.log()}`;
  }
  return service;
}

/** nginx as a reverse proxy with keep-alive upstream connections, one worker (Gatehouse is one Node process), access log off. */
export async function startNginx(dir: string, port: number, upstreamPort: number): Promise<Service | string> {
  const bin = await find(NGINX);
  if (!bin) return 'nginx is not installed (run scripts/bench-setup.sh)';
  const home = join(dir, 'nginx');
  mkdirSync(home, { recursive: true });
  const conf = `
worker_processes 1;
pid ${home}/nginx.pid;
error_log ${home}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${home}/body;
  proxy_temp_path ${home}/proxy;
  fastcgi_temp_path ${home}/fastcgi;
  uwsgi_temp_path ${home}/uwsgi;
  scgi_temp_path ${home}/scgi;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const file = join(home, 'nginx.conf');
  writeFileSync(file, conf);
  const service = startService('nginx', bin, ['-p', home, '-e', join(home, 'error.log'), '-c', file, '-g', 'daemon off;']);
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    await service.stop();
    return `nginx did not start: ${(err as Error).message}\n${service.log()}`;
  }
  return service;
}

/** A redis-server of the bench's own (persisting nothing), so the load never touches a shared server's keys. */
export async function startRedisServer(dir: string, port: number): Promise<Service | string> {
  const bin = await find(REDIS_SERVER);
  if (!bin) return 'redis-server is not installed';
  const home = join(dir, `redis-${port}`);
  mkdirSync(home, { recursive: true });
  const service = startService('redis-server', bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', home]);
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    await service.stop();
    return `redis-server did not start: ${(err as Error).message}\n${service.log()}`;
  }
  return service;
}

/** twemproxy (Debian's nutcracker): parses RESP and routes by key, with no authorization, to one Redis. */
export async function startTwemproxy(dir: string, port: number, statsPort: number, upstreamPort: number): Promise<Service | string> {
  const bin = await find(NUTCRACKER);
  if (!bin) return 'nutcracker (twemproxy) is not installed';
  const home = join(dir, 'twemproxy');
  mkdirSync(home, { recursive: true });
  const file = join(home, 'nutcracker.yml');
  writeFileSync(file, [
    'bench:',
    `  listen: 127.0.0.1:${port}`,
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  redis: true',
    '  auto_eject_hosts: false',
    '  servers:',
    `    - 127.0.0.1:${upstreamPort}:1`,
  ].join('\n') + '\n');
  const service = startService('nutcracker', bin, ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(home, 'nutcracker.log')]);
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    await service.stop();
    return `nutcracker did not start: ${(err as Error).message}\n${service.log()}`;
  }
  return service;
}
