// kill -9 one of two `gatehouse serve` nodes on one PostgreSQL store while clients drive requests through both: every
// request a client saw answered has its audit record (a request's record is committed before it is forwarded), every
// node's chain verifies with `gatehouse audit verify`, and the node restarted under the same id closes the sessions the
// crash left open, fails the approvals it held, drops the budget reservations of its calls in flight, continues its
// chain and serves again.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startLlmUpstream } from '../src/demo/upstreams/llm.ts';
import { openPostgresStore } from '../src/services/store/postgres.ts';
import { startNode, startNodes, type Node } from './support/nodes.ts';
import { emptyDatabase, PG, testDatabase } from './support/pg.ts';
import { queryOnce } from './support/pg-server.ts';
import { run } from './support/run.ts';

const STORE = testDatabase('gatehouse_kill_store');
const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${STORE}`;
const ADMIN = 'kill-admin-key-0123456789abcdefg';
const APPROVER = 'kill-approver-key-0123456789abcd';
const CLIENTS_PER_NODE = 4;
const LLM_KEY = 'sk-upstream-kill-key-9f8e7d6c5b';

const yaml = (upstream: string, llm: string) => (node: string) => `
admin:
  listen: "127.0.0.1:0"
  keys:
    - { name: alice, key: "${ADMIN}", roles: [admin] }
    - { name: bob, key: "${APPROVER}", roles: [approver] }
store: "${url}"
node: { id: ${node} }
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "${upstream}" }
  openai: { kind: llm, listen: "127.0.0.1:0", upstream: "${llm}/v1", headers: { Authorization: "Bearer \${LLM_KEY}" } }
roles:
  agent:
    api: { allow: ["GET /x/*", "POST /hold"], approve: ["POST /hold"] }
    openai: { models: [gpt-4o-mini], budget: { tokens: 1000, per: day } }
`;

const storeRows = <T>(sql: string, params: unknown[] = []) => queryOnce<T>(STORE, sql, params);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kill -9 one node under load: no answered request without its record, every chain verifies, the node rejoins', async () => {
  await emptyDatabase(STORE);
  const upstream = createServer((req, res) => { req.resume(); res.end('ok'); });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const llm = await startLlmUpstream({ key: LLM_KEY });
  const config = yaml(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, llm.url);
  let nodes: Node[] = await startNodes(['n1', 'n2'], config, { LLM_KEY });
  try {
    const minted = await nodes[0].api<{ token: string }>('POST', '/v1/tokens', ADMIN, { role: 'agent', label: 'agent', ttl: '10m' });
    assert.equal(minted.status, 201);
    const auth = { authorization: `Bearer ${minted.body.token}` };

    // A request held on node 1 for approval: the crash orphans it.
    const held = fetch(`http://${nodes[0].address.api}/hold`, { method: 'POST', headers: auth, body: 'x' }).then((r) => r.status, () => 0);
    type Approval = { id: string; status: string };
    let pending: Approval | undefined;
    for (const deadline = Date.now() + 10_000; !pending && Date.now() < deadline; await sleep(50)) {
      [pending] = (await nodes[1].api<{ approvals: Approval[] }>('GET', '/v1/approvals?status=pending', APPROVER)).body.approvals;
    }
    assert.ok(pending, 'node 2 lists the request held on node 1');
    // An LLM call in flight on node 1 (the upstream takes its time): its budget reservation is in the store.
    const inFlight = fetch(`http://${nodes[0].address.openai}/v1/chat/completions`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'x-demo-delay-ms': '30000' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'say: slow' }] }),
    }).then((r) => r.status, () => 0);
    const reservations = async () => (await storeRows<{ n: number }>("SELECT count(*)::int AS n FROM llm_reservations WHERE node = 'n1'"))[0].n;
    for (const deadline = Date.now() + 10_000; (await reservations()) === 0 && Date.now() < deadline;) await sleep(50);
    assert.equal(await reservations(), 1, 'the call in flight holds a reservation');

    // Clients on both nodes, each request naming a path only it uses; `answered` is what a client saw answered.
    const answered = new Map<string, string>(); // path → node id
    const failures = new Map<string, number>();
    let running = true;
    const client = async (node: Node, name: string) => {
      for (let n = 0; running; n++) {
        const path = `/x/${name}-${n}`;
        try {
          const res = await fetch(`http://${node.address.api}${path}`, { headers: auth });
          await res.text();
          if (res.status === 200) answered.set(path, node.id);
          else failures.set(`${node.id} ${res.status}`, (failures.get(`${node.id} ${res.status}`) ?? 0) + 1);
        } catch {
          failures.set(`${node.id} refused`, (failures.get(`${node.id} refused`) ?? 0) + 1);
          await sleep(20);
        }
      }
    };
    const load = nodes.flatMap((node) => Array.from({ length: CLIENTS_PER_NODE }, (_, i) => client(node, `${node.id}c${i}`)));
    const served = (id: string) => [...answered.values()].filter((n) => n === id).length;
    /** Waits (a loaded machine may be slow) until `check` holds; says what was served if it never does. */
    const until = async (check: () => boolean, what: string) => {
      for (const deadline = Date.now() + 15_000; !check(); await sleep(20)) {
        if (Date.now() > deadline) throw new Error(`${what}: n1 answered ${served('n1')}, n2 ${served('n2')}`);
      }
    };
    await until(() => served('n1') >= 30 && served('n2') >= 30, 'both nodes serve under load');
    const killed = nodes[0];
    killed.child.kill('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    const n2AtKill = served('n2');
    await until(() => served('n2') >= n2AtKill + 30, 'node 2 keeps serving');
    running = false;
    await Promise.all(load);
    assert.deepEqual([await held, await inFlight], [0, 0], 'the held request and the call in flight died with their node');
    console.log(`answered: n1 ${served('n1')}, n2 ${served('n2')}; not answered: ${JSON.stringify([...failures])}`);
    const dangling = await storeRows<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE node = 'n1' AND ended_at IS NULL");
    assert.ok(dangling[0].n > 0, 'the crash left sessions of node 1 open in the store');

    // The same node id starts again: it closes what the crash left open and continues its chain.
    nodes = [await startNode('n1', config, { LLM_KEY }), nodes[1]];
    assert.equal(await reservations(), 0, 'the reservation its crash left is dropped');
    assert.deepEqual(await storeRows("SELECT id FROM sessions WHERE node = 'n1' AND ended_at IS NULL"), [], "node 1's dangling sessions are closed");
    const orphaned = await nodes[1].api<Approval>('GET', `/v1/approvals/${pending.id}`, APPROVER);
    assert.equal(orphaned.body.status, 'failed', 'the approval node 1 held is failed, never forwarded');
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://${nodes[0].address.api}/x/after-restart-${i}`, { headers: auth });
      assert.equal(res.status, 200, 'the restarted node serves');
      await res.text();
      answered.set(`/x/after-restart-${i}`, 'n1');
    }

    // Every answered request has its record, in the chain of the node that answered it.
    for (const id of ['n1', 'n2']) {
      const store = await openPostgresStore(url, { node: id });
      try {
        const recorded = new Set((await store.readAudit(0, 1_000_000)).filter((r) => r.kind === 'request' && r.verdict === 'allow').map((r) => String(r.data.path)));
        const missing = [...answered].filter(([path, node]) => node === id && !recorded.has(path)).map(([path]) => path);
        assert.deepEqual(missing, [], `answered by ${id} without an audit record`);
      } finally {
        await store.close();
      }
    }
    const verify = await run(process.execPath, ['bin/gatehouse.js', 'audit', 'verify'], { GATEHOUSE_URL: nodes[0].adminUrl, GATEHOUSE_ADMIN_KEY: ADMIN });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /audit chain of node n1 verified: \d+ records, no breaks/);
    assert.match(verify.stdout, /audit chain of node n2 verified: \d+ records, no breaks/);
  } finally {
    const codes = await Promise.all(nodes.map((n) => (n.child.exitCode === null && n.child.signalCode === null ? n.stop() : Promise.resolve(null))));
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
    await llm.close();
    assert.ok(codes.every((c) => c === 0 || c === null), `nodes stop cleanly (${codes})`);
  }
});
