// Inputs that once broke (or were built to break) a listener, replayed on every run: one row per input, never removed.
// `npm run fuzz` prints a failing input as a row for this list.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { send } from './support/fuzz.ts';
import { fuzzBed, type FuzzBed } from './support/fuzz-gateway.ts';

/** `chunks`: what the client wrote, in hex, one entry per write. */
const REGRESSIONS: { protocol: string; why: string; chunks: string[] }[] = [
  { protocol: 'postgres', why: 'a startup packet claiming 2 GiB', chunks: ['7fffffff00030000'] },
  { protocol: 'mysql', why: 'a first packet of the largest length, cut after one byte', chunks: ['ffffff0003'] },
  { protocol: 'redis', why: 'a multibulk of 2^31-1 arguments, then a negative bulk length', chunks: ['2a323134373438333634370d0a242d320d0a'] },
  { protocol: 'http', why: 'a Content-Length of 20 digits beside chunked encoding, then an oversized chunk', chunks: ['474554202f696e766f696365732f3120485454502f312e310d0a486f73743a20780d0a436f6e74656e742d4c656e6774683a2039393939393939393939393939393939393939390d0a5472616e736665722d456e636f64696e673a206368756e6b65640d0a0d0a666666666666666666666666666666660d0a'] },
  { protocol: 'mcp', why: 'a JSON-RPC body that is nine unclosed arrays', chunks: ['504f5354202f6d637020485454502f312e310d0a486f73743a20780d0a436f6e74656e742d547970653a206170706c69636174696f6e2f6a736f6e0d0a436f6e74656e742d4c656e6774683a20390d0a0d0a5b5b5b5b5b5b5b5b5b'] },
  { protocol: 'egress', why: 'a CONNECT with an empty Basic credential, then a torn TLS record', chunks: ['434f4e4e454354203132372e302e302e313a3020485454502f312e310d0a486f73743a203132372e302e302e313a300d0a50726f78792d417574686f72697a6174696f6e3a204261736963200d0a0d0a160301c3bfc3bf'] },
];

describe('fuzz regressions', () => {
  let bed: FuzzBed;
  before(async () => { bed = await fuzzBed(); });
  after(async () => { await bed?.close(); });

  for (const [i, row] of REGRESSIONS.entries()) {
    test(`${row.protocol} #${i + 1}: ${row.why} — the connection ends and a real client is still served`, async () => {
      const target = bed.targets.find((t) => t.driver.name === row.protocol);
      assert.ok(target, `no listener for ${row.protocol}`);
      for (const split of [false, true]) assert.ok(await send(target.address, row.chunks.map((c) => Buffer.from(c, 'hex')), split), 'the gateway did not end the connection');
      await target.witness();
    });
  }
});
