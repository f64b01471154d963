// Revocation across in-process gateway nodes on one PostgreSQL store, where the test reaches into a node's store: a node
// whose listener is down and cannot catch up refuses requests and is unready until it has caught up. (Revocations cutting
// live sessions on other nodes, measured over real gateway processes, are in test/cluster-nodes.test.ts.)
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { startGateway, type Gateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { queryOnce, testDatabase } from './support/pg-server.ts';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const db = testDatabase('gatehouse_revocation');
const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

const yaml = (node: string, staleAfter: string) => `admin: { listen: "127.0.0.1:0" }
store: "${url}"
node: { id: ${node}, revocation_stale_after: ${staleAfter} }
connections:
  cache: { kind: redis, listen: "127.0.0.1:0", upstream: "redis://127.0.0.1:6379/0" }
roles:
  agent:
    cache: { commands: ["+ping"] }
`;

let nodes: Gateway[] = [];


before(async () => {
  await queryOnce('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await queryOnce('postgres', `CREATE DATABASE ${db}`);
  // Node 2 is the one whose listener the second test takes down: a short staleness bound keeps the test quick.
  for (const [node, stale] of [['n1', '5s'], ['n2', '1s'], ['n3', '5s']]) {
    nodes.push(await startGateway(parseConfig(yaml(node, stale), node), { log: silent }));
  }
});

after(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
  await queryOnce('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

/** A Redis client session on a node, authenticated with the token; `reply` reads the next line the gateway sends. */
async function session(gw: Gateway, token: string) {
  const [host, port] = gw.listeners[0].address.split(':');
  const socket: Socket = connect(Number(port), host);
  let buffered = '';
  const waiting: ((line: string) => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let at;
    while ((at = buffered.indexOf('\r\n')) >= 0 && waiting.length) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 2);
      waiting.shift()!(line);
    }
  });
  socket.on('error', () => undefined);
  const send = (line: string) => new Promise<string>((resolve) => { waiting.push(resolve); socket.write(line + '\r\n'); });
  assert.equal(await send(`AUTH ${token}`), '+OK');
  return { send, end: () => socket.destroy() };
}

test('a node whose listener is down and cannot catch up refuses requests and is unready, then serves again once caught up', async () => {
  const [one, two] = nodes;
  const { token } = await one.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
  const client = await session(two, token);
  assert.equal(await client.send('PING'), '+PONG');
  const { store } = two.services;
  const { revocationsAfter } = store;
  // The store stops answering node 2's revocation reads, and its listening connection is killed by the server.
  store.revocationsAfter = () => Promise.reject(new Error('connection lost'));
  try {
    const killed = await queryOnce(db, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse revocations n2'`);
    assert.equal(killed.length, 1, "node 2's listener is one connection of its own");
    const deadline = Date.now() + 10_000;
    let reply = await client.send('PING');
    while (reply === '+PONG' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      reply = await client.send('PING');
    }
    assert.match(reply, /^-.*has not heard revocations from its store for [\d.]+s \(its listener is down\); requests are refused until it has caught up/);
    const ready = await fetch(`${two.adminUrl}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: { revocations: { ok: boolean } } }).checks.revocations.ok, false);
    assert.equal((await fetch(`${nodes[2].adminUrl}/readyz`)).status, 200, 'the other nodes keep serving');
  } finally {
    store.revocationsAfter = revocationsAfter;
  }
  const deadline = Date.now() + 10_000;
  let reply = await client.send('PING');
  while (reply !== '+PONG' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    reply = await client.send('PING');
  }
  assert.equal(reply, '+PONG', 'caught up: requests are served again');
  assert.equal((await fetch(`${two.adminUrl}/readyz`)).status, 200);
  client.end();
});
