// SCRAM-SHA-256: the RFC 7677 vector through both halves, candidates, refusals, PostgreSQL's own verifiers, and the real `pg` client.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import {
  SCRAM_SHA_256, ScramError, createScramClient, md5Password, serverFirst, verifyClientFinal, type ScramCandidate, type ScramServerState,
} from '../src/adapters/postgres/auth/scram.ts';
import { saslPrep, scramVerifier } from '../src/services/identity/scram-keys.ts';
import * as be from '../src/adapters/postgres/codec/backend.ts';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { ProtocolError } from '../src/adapters/postgres/codec/cursor.ts';
import { Frontend, Untyped } from '../src/adapters/postgres/codec/messages.ts';
import { FrameReader, type Frame } from '../src/adapters/postgres/codec/reader.ts';

// RFC 7677 section 3.
const RFC = {
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  iterations: 4096,
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const SALT = randomBytes(16);
const ITERATIONS = 4096;
const candidate = (id: string, password: string): ScramCandidate => ({ id, ...scramVerifier(password, SALT, ITERATIONS) });

/** One full exchange between our client and our server; returns the server's verdict and the client's check of it. */
function exchange(password: string, candidates: ScramCandidate[]) {
  const client = createScramClient(password);
  const { message, state } = serverFirst(client.clientFirst(), { salt: SALT, iterations: ITERATIONS });
  const verdict = verifyClientFinal(state, client.handleServerFirst(message), candidates);
  if (verdict.ok) client.verifyServerFinal(verdict.serverFinal);
  return verdict;
}

describe('RFC 7677 test vector', () => {
  test('client half', () => {
    const client = createScramClient(RFC.password, { user: 'user', nonce: RFC.clientNonce });
    assert.equal(client.clientFirst(), RFC.clientFirst);
    assert.equal(client.handleServerFirst(RFC.serverFirst), RFC.clientFinal);
    client.verifyServerFinal(RFC.serverFinal);
    assert.throws(() => client.verifyServerFinal('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), /server signature mismatch/);
  });

  test('server half', () => {
    const { message, state } = serverFirst(RFC.clientFirst, { salt: RFC.salt, iterations: RFC.iterations, serverNonce: RFC.serverNonce });
    assert.equal(message, RFC.serverFirst);
    assert.equal(state.user, 'user');
    const verdict = verifyClientFinal(state, RFC.clientFinal, [{ id: 'pencil', ...scramVerifier(RFC.password, RFC.salt, RFC.iterations) }]);
    assert.deepEqual(verdict, { ok: true, id: 'pencil', serverFinal: RFC.serverFinal });
  });
});

describe('our client against our server', () => {
  test('round trip; the client checks the server signature', () => {
    assert.deepEqual(exchange('gth_secret', [candidate('t1', 'gth_secret')]).ok, true);
  });

  test('a wrong password is refused', () => {
    assert.deepEqual(exchange('gth_wrong', [candidate('t1', 'gth_secret')]), { ok: false, reason: 'invalid proof' });
  });

  test('no candidates (unknown user) is the same refusal', () => {
    assert.deepEqual(exchange('gth_secret', []), { ok: false, reason: 'invalid proof' });
  });

  test('several candidates sharing salt and iterations: the matching id wins', () => {
    const candidates = ['a', 'b', 'c'].map((id) => candidate(id, `gth_${id}`));
    for (const id of ['a', 'b', 'c']) {
      const verdict = exchange(`gth_${id}`, candidates);
      assert.ok(verdict.ok);
      assert.equal(verdict.id, id);
    }
  });

  test('every candidate is examined even when the first one matches', () => {
    const read: string[] = [];
    const watched = ['a', 'b', 'c'].map((id) => {
      const { storedKey, serverKey } = candidate(id, `gth_${id}`);
      return { id, serverKey, get storedKey() { read.push(id); return storedKey; } };
    });
    assert.ok(exchange('gth_a', watched).ok);
    assert.deepEqual([...new Set(read)], ['a', 'b', 'c']);
  });

  test("the server signature of a server that doesn't know the password is rejected", () => {
    const client = createScramClient('gth_secret');
    const { message, state } = serverFirst(client.clientFirst(), { salt: SALT, iterations: ITERATIONS });
    const clientFinal = client.handleServerFirst(message);
    const impostor = { id: 'x', storedKey: candidate('x', 'gth_secret').storedKey, serverKey: candidate('y', 'other').serverKey };
    const verdict = verifyClientFinal(state, clientFinal, [impostor]);
    assert.ok(verdict.ok);
    assert.throws(() => client.verifyServerFinal(verdict.serverFinal), ScramError);
  });
});

describe('server refusals', () => {
  const start = (clientFirst: string) => serverFirst(clientFirst, { salt: SALT, iterations: ITERATIONS });

  test('unsupported or malformed client-first messages throw ScramError', () => {
    assert.throws(() => start('p=tls-server-end-point,,n=,r=abc'), /channel binding is not supported/);
    assert.throws(() => start('n,a=admin,n=,r=abc'), /authorization identities are not supported/);
    assert.throws(() => start('n,,m=ext,n=,r=abc'), /mandatory extensions/);
    assert.throws(() => start('x,,n=,r=abc'), /bad GS2 header/);
    assert.throws(() => start('n'), /truncated GS2 header/);
    assert.throws(() => start('n,,n='), /r= nonce/);
    assert.throws(() => start('n,,n=,r='), /r= nonce/);
    assert.throws(() => start('n,,n=a=2Xb,r=abc'), /bad escape/);
  });

  test('the y flag is accepted (we offer no channel binding) and c= must then echo it', () => {
    const { state } = start('y,,n=*,r=abc');
    assert.equal(state.channelBinding, 'eSws');
    assert.equal(state.user, '*');
    const proof = Buffer.alloc(32).toString('base64');
    assert.deepEqual(verifyClientFinal(state, `c=biws,r=${state.nonce},p=${proof}`, []), { ok: false, reason: 'channel binding mismatch' });
  });

  test('saslnames are unescaped', () => {
    assert.equal(start('n,,n=a=2Cb=3Dc,r=abc').state.user, 'a,b=c');
  });

  test('a server nonce of 18 random bytes extends the client nonce', () => {
    const { state } = start('n,,n=,r=clientnonce');
    assert.match(state.nonce, /^clientnonce[A-Za-z0-9+/]{24}$/);
    assert.notEqual(start('n,,n=,r=clientnonce').state.nonce, state.nonce);
  });

  test('client-final mismatches and malformations', () => {
    const client = createScramClient('gth_secret');
    const { message, state } = start(client.clientFirst());
    const good = client.handleServerFirst(message);
    const candidates = [candidate('t1', 'gth_secret')];
    const verify = (text: string, s: ScramServerState = state) => verifyClientFinal(s, text, candidates);
    assert.equal(verify(good).ok, true);
    assert.deepEqual(verify(good.replace('c=biws', 'c=eSws')), { ok: false, reason: 'channel binding mismatch' });
    assert.deepEqual(verify(good.replace(`r=${state.nonce}`, `r=${state.nonce}x`)), { ok: false, reason: 'nonce mismatch' });
    assert.deepEqual(verify(good, start(client.clientFirst()).state), { ok: false, reason: 'nonce mismatch' }, 'a proof for another exchange');
    assert.deepEqual(verify(good.replace(/,p=.*/, '')), { ok: false, reason: 'malformed message' });
    assert.deepEqual(verify(good.replace(/,p=.*/, ',p=AAAA')), { ok: false, reason: 'malformed message' });
    assert.deepEqual(verify(good.replace(/,p=(.)/, ',p=!$1')), { ok: false, reason: 'malformed message' }, 'no lenient base64');
    const flipped = Buffer.from(good.split(',p=')[1], 'base64');
    flipped[0] ^= 1;
    assert.deepEqual(verify(good.replace(/,p=.*/, `,p=${flipped.toString('base64')}`)), { ok: false, reason: 'invalid proof' });
  });
});

describe('client refusals', () => {
  test('a server nonce that does not extend ours, or bad salt / iterations', () => {
    const client = createScramClient('pw', { nonce: 'abc' });
    assert.throws(() => client.handleServerFirst('r=xyz123,s=AAAA,i=4096'), /does not extend the client nonce/);
    assert.throws(() => client.handleServerFirst('r=abc,s=AAAA,i=4096'), /does not extend the client nonce/);
    assert.throws(() => client.handleServerFirst('r=abcdef,s=,i=4096'), /expected s=/);
    assert.throws(() => client.handleServerFirst('r=abcdef,s=AAAA,i=0'), /expected i=/);
    assert.throws(() => client.handleServerFirst('m=x,r=abcdef,s=AAAA,i=1'), /mandatory extensions/);
  });

  test('server-final errors and out-of-order calls', () => {
    const client = createScramClient('pw', { nonce: 'abc' });
    assert.throws(() => client.verifyServerFinal('v=AAAA'), /before server-first/);
    client.handleServerFirst('r=abcdef,s=AAAA,i=1');
    assert.throws(() => client.verifyServerFinal('e=invalid-proof'), /server refused SCRAM: invalid-proof/);
    assert.throws(() => client.verifyServerFinal('nonsense'), /server signature mismatch/);
  });
});

describe('password preparation and md5', () => {
  test('ASCII passes through untouched, control characters included (as in PostgreSQL)', () => {
    for (const password of ['pencil', 'a b\tc', '\u0007bell', '']) assert.equal(saslPrep(password), password);
  });

  test('RFC 4013 examples', () => {
    assert.equal(saslPrep('I\u00adX'), 'IX');
    assert.equal(saslPrep('\u00aa'), 'a');
    assert.equal(saslPrep('\u2168'), 'IX');
    assert.equal(saslPrep('a\u00a0b'), 'a b');
  });

  test('md5Password', () => {
    // Computed independently: 'md5' + md5(md5('secret' + 'postgres').hex + salt).hex
    assert.equal(md5Password('postgres', 'secret', Buffer.from([1, 2, 3, 4])), 'md5bb41a296aab6baccb36ff243a562abff');
  });
});

describe('against the real PostgreSQL at 127.0.0.1:5432', () => {
  test('scramVerifier derives the same keys PostgreSQL stores (ASCII and SASLprep-mapped passwords)', { timeout: 10_000 }, async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      // Roles are created inside a transaction that is rolled back: the shared server is left as it was.
      await client.query("BEGIN; SET LOCAL password_encryption = 'scram-sha-256'");
      for (const password of ['pencil', 'gth_' + randomBytes(32).toString('base64url'), 'pa\u0308sswort', 'I\u00adX\u00a0y']) {
        const role = `gatehouse_scram_${randomBytes(6).toString('hex')}`;
        await client.query(`CREATE ROLE ${role} PASSWORD ${client.escapeLiteral(password)}`);
        const { rows } = await client.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
        const [, iterations, salt, storedKey, serverKey] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(rows[0].rolpassword) ?? [];
        const ours = scramVerifier(password, Buffer.from(salt, 'base64'), Number(iterations));
        assert.equal(ours.storedKey.toString('base64'), storedKey, `StoredKey for ${JSON.stringify(password)}`);
        assert.equal(ours.serverKey.toString('base64'), serverKey, `ServerKey for ${JSON.stringify(password)}`);
      }
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    }
  });
});

describe('interop: the real `pg` client against a tiny server built from our codec and SCRAM server', () => {
  const PASSWORD = 'gth_' + randomBytes(32).toString('base64url');

  interface Tiny {
    port: number;
    seen: { startupUser?: string; scramUser?: string; queries: string[] };
    close(): Promise<void>;
  }

  async function startTiny(): Promise<Tiny> {
    const verifier = scramVerifier(PASSWORD, SALT, ITERATIONS);
    const seen: Tiny['seen'] = { queries: [] };
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      const reader = new FrameReader({ source: 'frontend', startup: true });
      let user = '';
      let scram: ScramServerState | undefined;
      const refuse = (code: string, message: string) => socket.end(be.errorResponse({ severity: 'FATAL', code, message }));

      const handle = (frame: Frame): void => {
        if (frame.type === Untyped) {
          const request = fe.parseStartup(frame.body);
          if (request.kind === 'ssl' || request.kind === 'gssenc') return void socket.write(be.sslResponse('N'));
          if (request.kind === 'cancel') return void socket.end();
          user = request.params.get('user') ?? '';
          seen.startupUser = user;
          return void socket.write(be.authenticationSASL([SCRAM_SHA_256]));
        }
        switch (frame.type) {
          case Frontend.PasswordMessage: {
            if (!scram) {
              const { mechanism, data } = fe.parseSASLInitialResponse(frame.body);
              if (mechanism !== SCRAM_SHA_256 || data === null) return void refuse('28000', 'SCRAM-SHA-256 expected');
              const first = serverFirst(data.toString('utf8'), { salt: SALT, iterations: ITERATIONS });
              scram = first.state;
              seen.scramUser = scram.user;
              return void socket.write(be.authenticationSASLContinue(first.message));
            }
            const verdict = verifyClientFinal(scram, fe.parseSASLResponse(frame.body).toString('utf8'), [{ id: 'tok_1', ...verifier }]);
            if (!verdict.ok) return void refuse('28P01', `password authentication failed for user "${user}"`);
            for (const message of [
              be.authenticationSASLFinal(verdict.serverFinal),
              be.authenticationOk(),
              be.parameterStatus('server_version', '15.0'),
              be.parameterStatus('client_encoding', 'UTF8'),
              be.backendKeyData(1234, randomBytes(4)),
              be.readyForQuery('I'),
            ]) socket.write(message);
            return;
          }
          case Frontend.Query: {
            const text = fe.parseQuery(frame.body);
            seen.queries.push(text);
            if (text !== 'SELECT 1') {
              socket.write(be.errorResponse({ severity: 'ERROR', code: '0A000', message: 'tiny server only knows SELECT 1' }));
              return void socket.write(be.readyForQuery('I'));
            }
            for (const message of [
              be.rowDescription([{ name: '?column?', typeOid: 23, typeSize: 4 }]),
              be.dataRow(['1']),
              be.commandComplete('SELECT 1'),
              be.readyForQuery('I'),
            ]) socket.write(message);
            return;
          }
          case Frontend.Terminate:
            return void socket.end();
          default:
            throw new ProtocolError(`unexpected message 0x${frame.type.toString(16)}`);
        }
      };

      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        try {
          for (const frame of reader) handle(frame);
        } catch (err) {
          refuse(err instanceof ProtocolError ? err.code : '28000', (err as Error).message);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    return {
      port: address.port,
      seen,
      close: () => {
        for (const socket of sockets) socket.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  const clientFor = (port: number, password: string) =>
    new pg.Client({ host: '127.0.0.1', port, user: 'agent', password, database: 'app', connectionTimeoutMillis: 5000 });

  test('pg authenticates with SCRAM-SHA-256, verifies our signature and runs SELECT 1', { timeout: 10_000 }, async () => {
    const tiny = await startTiny();
    const client = clientFor(tiny.port, PASSWORD);
    try {
      await client.connect();
      const result = await client.query('SELECT 1');
      assert.deepEqual(result.rows, [{ '?column?': 1 }]);
      assert.equal(result.command, 'SELECT');
      assert.equal(tiny.seen.startupUser, 'agent');
      assert.equal(tiny.seen.scramUser, '*', 'pg sends n=*; the startup user is the one that counts');
      assert.deepEqual(tiny.seen.queries, ['SELECT 1']);
    } finally {
      await client.end();
      await tiny.close();
    }
  });

  test('a wrong password gets ErrorResponse 28P01, which pg surfaces', { timeout: 10_000 }, async () => {
    const tiny = await startTiny();
    const client = clientFor(tiny.port, 'gth_wrong');
    client.on('error', () => undefined);
    try {
      await assert.rejects(client.connect(), (err: Error & { code?: string; severity?: string }) => {
        assert.equal(err.code, '28P01');
        assert.equal(err.severity, 'FATAL');
        assert.match(err.message, /password authentication failed for user "agent"/);
        return true;
      });
      assert.deepEqual(tiny.seen.queries, []);
    } finally {
      await tiny.close();
    }
  });
});
