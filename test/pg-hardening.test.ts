// The PostgreSQL gateway under attack: one connection's failure stays that connection's, memory and descriptors stay
// bounded, and every limit answers with PostgreSQL's own error codes. Real clients (pg, psql) and raw wire frames.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend } from '../src/adapters/postgres/codec/messages.ts';
import { send } from './helpers/gateway.ts';
import { ADMIN_KEY, startPgGateway, type PgGateway } from './support/pg.ts';
import { frame, rawSession } from './support/wire.ts';

describe('one connection cannot take the process down', () => {
  let gw: PgGateway;
  before(async () => {
    gw = await startPgGateway('gatehouse_boundary', {
      tls: 'off',
      // The HTTP and LLM listeners run in the same process; their upstreams are never reached (no token, no request).
      connections: `
  api:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9
  chat:
    kind: llm
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9/v1`,
    });
  });
  after(async () => { await gw?.close(); });

  const listener = (name: string) => `http://${gw.gateway.listeners.find((l) => l.name === name)!.address}`;

  test('a Describe with a NUL kind byte ends that session with a FATAL 08P01 and an audit record; every listener keeps answering', async () => {
    const t = gw.token('retriever', 'attacker');
    const s = await rawSession(gw, t);
    s.socket.write(frame('D', [0], ''));
    const frames = await s.closed;
    const fatal = s.errors()[0];
    assert.equal(fatal?.severity, 'FATAL');
    assert.equal(fatal.code, '08P01');
    assert.match(fatal.message, /kind 0x00 is neither 'S' nor 'P'/);
    assert.equal(frames.at(-1)?.type, Backend.ErrorResponse, 'the FATAL is the last thing the client hears');
    const audit = gw.gateway.services.audit.read(0, 100_000);
    const error = audit.find((r) => r.kind === 'session.error' && r.tokenId === t.id);
    assert.equal(error?.data.code, '08P01');
    assert.ok(audit.some((r) => r.kind === 'session.close' && r.sessionId === error?.sessionId), 'the session is closed in the record too');

    const other = await gw.client(gw.token('retriever', 'bystander'));
    assert.equal((await other.query('SELECT count(*)::int AS n FROM documents')).rows[0].n, 50);
    assert.equal((await send(listener('api'), 'GET', '/anything')).status, 401, 'the HTTP listener answers');
    assert.equal((await send(listener('chat'), 'POST', '/v1/chat/completions', { 'content-type': 'application/json' }, '{}')).status, 401, 'the LLM listener answers');
    assert.equal((await send(gw.adminUrl, 'GET', '/v1/health', { authorization: `Bearer ${ADMIN_KEY}` })).status, 200, 'the admin API answers');
  });

});
