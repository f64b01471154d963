// Redis path: redis-benchmark GET/SET at pipeline depths 1 and 16 against a redis-server of the bench's own, directly,
// through a bare Node TCP passthrough, through twemproxy (parses and routes RESP, authorizes nothing) and through
// Gatehouse (every command judged against a key-pattern grant, audited to a file-backed store); CPU per command, same run.
import { join } from 'node:path';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { redisBenchmark, type RedisTarget } from '../lib/load.ts';
import { cpuSeconds, freePort, have, startNode, type Service } from '../lib/proc.ts';
import { startRedisServer, startTwemproxy } from '../lib/refs.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const CLIENTS = 50;
const TESTS = ['get', 'set'];
/** Target: Gatehouse at least half of twemproxy's throughput. */
const TARGET = 0.5;

function gatewayYaml(store: string, upstreamPort: number) {
  return `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${store}"
connections:
  bench:
    kind: redis
    listen: 127.0.0.1:0
    upstream: redis://127.0.0.1:${upstreamPort}/0
roles:
  benchmark:
    bench:
      commands: ["+@read", "+@write", "-@dangerous"]
      read: ["key:*"]
      write: ["key:*"]
`;
}

export async function benchRedis(ctx: Context): Promise<Row[]> {
  const section = 'redis';
  for (const tool of ['redis-server', 'redis-benchmark']) {
    if (!(await have(tool))) return [{ section, metric: 'redis-benchmark', unit: '', note: `not available: ${tool} is not installed` }];
  }
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const rows: Row[] = [];
  try {
    const redisPort = await freePort();
    const redis = await startRedisServer(ctx.dir, redisPort);
    if (typeof redis === 'string') throw new Error(redis);
    services.push(redis);
    const proxyPort = await freePort();
    const twemproxy = await startTwemproxy(ctx.dir, proxyPort, await freePort(), redisPort);
    if (typeof twemproxy !== 'string') services.push(twemproxy);
    else ctx.log(`  twemproxy: ${twemproxy}`);
    const floorPort = await freePort();
    const floor = await startNode('floor-tcp', join(import.meta.dirname, '../floor/tcp.ts'), [String(floorPort), '127.0.0.1', String(redisPort)]);
    services.push(floor);
    gateway = await startGatewayChild(ctx.dir, gatewayYaml(join(ctx.dir, 'gatehouse-redis.db'), redisPort), { profileDir: ctx.profileDir });
    const token = await gateway.mint('benchmark', 'benchmark');
    const gw = gateway.address('bench');

    type Name = 'direct' | 'floor' | 'ref' | 'gatehouse';
    const targets: { name: Name; target: RedisTarget; pid?: number }[] = [
      { name: 'direct', target: { host: '127.0.0.1', port: redisPort } },
      { name: 'floor', target: { host: '127.0.0.1', port: floorPort }, pid: floor.pid },
      ...(typeof twemproxy !== 'string' ? [{ name: 'ref' as const, target: { host: '127.0.0.1', port: proxyPort }, pid: twemproxy.pid }] : []),
      { name: 'gatehouse', target: { host: gw.host, port: gw.port, user: 'benchmark', password: token }, pid: gateway.pid },
    ];

    ctx.log('  warm-up');
    for (const t of targets.filter((x) => x.pid)) await redisBenchmark(t.target, { tests: TESTS, pipeline: 16, clients: CLIENTS, requests: 50_000 });

    for (const pipeline of [1, 16]) {
      // Sized so a Gatehouse run lasts a few seconds at the throughputs this machine reaches.
      const requests = Math.round(ctx.seconds * (pipeline === 1 ? 4_000 : 25_000));
      const rps = {} as Record<Name, Record<string, number> | undefined>;
      const cpu = {} as Record<Name, number | undefined>;
      for (const t of targets) {
        ctx.log(`  redis-benchmark -t ${TESTS.join(',')} -P ${pipeline} -c ${CLIENTS} -n ${requests}: ${t.name}`);
        const before = t.pid ? cpuSeconds(t.pid) : undefined;
        const r = await redisBenchmark(t.target, { tests: TESTS, pipeline, clients: CLIENTS, requests });
        const after = t.pid ? cpuSeconds(t.pid) : undefined;
        if (r.failed) ctx.log(`  redis-benchmark against ${t.name} failed:\n${r.output.slice(-1500)}`);
        rps[t.name] = r.failed ? undefined : r.rps;
        cpu[t.name] = !r.failed && before !== undefined && after !== undefined ? ((after - before) * 1e6) / (requests * TESTS.length) : undefined;
      }
      for (const test of TESTS.map((x) => x.toUpperCase())) {
        const row = withRatios({
          section, metric: `redis-benchmark ${test} -P ${pipeline}, ${CLIENTS} clients`, unit: 'ops/s',
          direct: rps.direct?.[test], floor: rps.floor?.[test], ref: rps.ref?.[test], refName: 'twemproxy', gatehouse: rps.gatehouse?.[test],
          target: `G ≥ ${TARGET}× twemproxy`,
        });
        row.pass = row.ratioRef !== undefined ? row.ratioRef >= TARGET : false;
        rows.push(row);
      }
      rows.push(withRatios({ section, metric: `proxy CPU per command, GET+SET -P ${pipeline}`, unit: 'µs', floor: cpu.floor, ref: cpu.ref, refName: 'twemproxy', gatehouse: cpu.gatehouse }));
    }
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
  return rows;
}
