// `gatehouse serve --workers N`: refused on SQLite at start-up; the supervisor's processes share one port, are replaced
// when one dies, stop together on SIGTERM, and any one of them answers /metrics for all.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { test } from 'node:test';
import { run } from './support/run.ts';
import { serve } from './support/serve.ts';
import { value } from './support/metrics.ts';

const sqliteConfig = `
admin: { listen: "127.0.0.1:0" }
store: sqlite:./gatehouse.db
`;

test('--workers 2 on SQLite is refused at start-up with the reason, and nothing listens', async () => {
  const refused = await serve(sqliteConfig, ['--workers', '2']).then(() => undefined, (err: Error) => err.message);
  assert.match(refused ?? 'it started', /exited \(2\) before listening/);
  assert.match(refused!, /--workers needs store: postgres:\/\/\.\.\.; SQLite is one process/);
  const zero = await run(process.execPath, ['bin/gatehouse.js', 'serve', '--config', 'gatehouse.yaml', '--workers', '0']);
  assert.equal(zero.status, 2);
  assert.match(zero.stderr, /expected a whole number of processes, 1 or more/);
});

test('--workers 1 is one ordinary process, on SQLite too', async () => {
  const one = await serve(sqliteConfig, ['--workers', '1']);
  one.child.kill('SIGTERM');
  assert.equal((await one.exited).code, 0);
});

interface Cluster { child: ChildProcess; workers: { pid: number; port: number }[]; exited: Promise<number | null>; stderr: () => string }

function startCluster(env: NodeJS.ProcessEnv = {}): Cluster {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/workers-fixture.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const workers: Cluster['workers'] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { for (const line of d.toString().split('\n').filter(Boolean)) workers.push(JSON.parse(line)); });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { clearTimeout(timer); resolve(code); }));
  return { child, workers, exited, stderr: () => stderr };
}

const until = async (check: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** One request on a new connection: the cluster hands each connection to one worker. */
const get = (port: number, path: string) => new Promise<{ pid: number; body: string }>((resolve, reject) => {
  request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
    let body = '';
    res.on('data', (d: Buffer) => (body += d.toString()));
    res.on('end', () => resolve({ pid: Number(res.headers['x-pid']), body }));
  }).on('error', reject).end();
});

test('workers share one port, any of them answers /metrics for all, a dead one is replaced, SIGTERM stops them all with 0', async () => {
  const c = startCluster();
  try {
    await until(() => c.workers.length === 2);
    const [a, b] = c.workers;
    assert.equal(a.port, b.port, 'one listener shared');
    const served = new Map<number, number>();
    for (let i = 0; i < 12; i++) {
      const { pid } = await get(a.port, '/count');
      served.set(pid, (served.get(pid) ?? 0) + 1);
    }
    assert.deepEqual([...served.keys()].sort(), [a.pid, b.pid].sort(), 'connections go to both workers');
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const { pid, body } = await get(a.port, '/metrics');
      seen.add(pid);
      assert.equal(value(body, 'gatehouse_requests_total', { connection: 'crm', kind: 'postgres', verdict: 'forward' }), 12, `worker ${pid} answers for both`);
    }
    assert.equal(seen.size, 2);

    const crashed = await get(a.port, '/crash');
    await until(() => c.workers.length === 3);
    const replacement = c.workers[2];
    assert.ok(![a.pid, b.pid].includes(replacement.pid));
    assert.equal(replacement.port, a.port);
    assert.match(c.stderr(), /a worker stopped; starting another/);
    assert.ok([a.pid, b.pid].includes(crashed.pid));

    c.child.kill('SIGTERM');
    assert.equal(await c.exited, 0);
    await assert.rejects(get(a.port, '/'), /ECONNREFUSED/);
  } finally {
    c.child.kill('SIGKILL');
  }
});

test('a worker that fails before it is ready stops the supervisor with 1 instead of restarting it forever', async () => {
  const c = startCluster({ GATEHOUSE_FIXTURE_FAIL: '1' });
  assert.equal(await c.exited, 1);
  assert.match(c.stderr(), /a worker failed to start; stopping/);
});
