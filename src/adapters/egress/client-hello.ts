// Reads the server name (SNI) from a TLS ClientHello, however it arrives: split across TCP segments or fragmented over
// several TLS records (RFC 8446 §5.1). A pure function over the bytes received so far; it owns no socket.

export type HelloRead =
  | { kind: 'more' } // incomplete: wait for more bytes
  | { kind: 'hello'; sni: string | undefined; /** Encrypted Client Hello (or its ESNI draft): the real name is hidden. */ ech: boolean }
  | { kind: 'refuse'; reason: string };

const HANDSHAKE_RECORD = 22;
const CLIENT_HELLO = 1;
const MAX_RECORD = 16_384 + 256; // 2^14 plus what a (pointless, for a ClientHello) compression expansion may add
/** Far above any real ClientHello (post-quantum key shares included), far below what could hold memory hostage. */
const MAX_CLIENT_HELLO = 64 * 1024;
const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;
const EXT_ESNI_DRAFT = 0xffce;
const HOST_NAME = 0;

const MORE: HelloRead = { kind: 'more' };
const refuse = (reason: string): HelloRead => ({ kind: 'refuse', reason });

/** Looks at the bytes a client sent into a tunnel so far; `bytes` is everything from the tunnel's first byte. */
export function readClientHello(bytes: Buffer): HelloRead {
  if (bytes.length && bytes[0] !== HANDSHAKE_RECORD) {
    return refuse(bytes[0] & 0x80 ? 'an SSLv2-style ClientHello carries no server name' : 'the tunnel did not start with a TLS handshake');
  }
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1; // the handshake message's full length, once its 4-byte header has arrived
  for (let at = 0; at + 5 <= bytes.length;) {
    if (bytes[at] !== HANDSHAKE_RECORD) return refuse('the ClientHello was interleaved with a non-handshake TLS record');
    if (bytes[at + 1] !== 3) return refuse('not a TLS record (bad version)');
    const length = bytes.readUInt16BE(at + 3);
    if (length === 0 || length > MAX_RECORD) return refuse('malformed TLS record length');
    const fragment = bytes.subarray(at + 5, Math.min(at + 5 + length, bytes.length));
    fragments.push(fragment);
    have += fragment.length;
    if (need < 0 && have >= 4) {
      const head = fragments.length === 1 ? fragment : Buffer.concat(fragments, have);
      if (head[0] !== CLIENT_HELLO) return refuse('the first handshake message is not a ClientHello');
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO) return refuse(`the ClientHello is larger than ${MAX_CLIENT_HELLO} bytes`);
    }
    if (need >= 0 && have >= need) return parseHello(Buffer.concat(fragments, have).subarray(4, need));
    if (fragment.length < length) return MORE;
    at += 5 + length;
  }
  return MORE;
}

/** The ClientHello body (RFC 8446 §4.1.2): version, random, session id, suites, compression, extensions. */
function parseHello(body: Buffer): HelloRead {
  let at = 2 + 32;
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > body.length) return false;
    at += lengthBytes + (lengthBytes === 1 ? body[at] : body.readUInt16BE(at));
    return at <= body.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return refuse('malformed ClientHello');
  if (at === body.length) return { kind: 'hello', sni: undefined, ech: false }; // no extensions at all
  if (at + 2 > body.length) return refuse('malformed ClientHello extensions');
  const end = at + 2 + body.readUInt16BE(at);
  if (end !== body.length) return refuse('malformed ClientHello extensions');
  at += 2;
  const seen = new Set<number>();
  let sni: string | undefined;
  let ech = false;
  while (at < end) {
    if (at + 4 > end) return refuse('malformed ClientHello extension');
    const type = body.readUInt16BE(at);
    const length = body.readUInt16BE(at + 2);
    const data = body.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    if (at > end) return refuse('malformed ClientHello extension');
    // A repeated extension is illegal (RFC 8446 §4.2), and two server names would let two parsers disagree.
    if (seen.has(type)) return refuse(`extension ${type} appears twice in the ClientHello`);
    seen.add(type);
    if (type === EXT_ECH || type === EXT_ESNI_DRAFT) ech = true;
    else if (type === EXT_SERVER_NAME) {
      const name = serverName(data);
      if (typeof name !== 'string') return name;
      sni = name;
    }
  }
  return { kind: 'hello', sni, ech };
}

/** The server_name extension (RFC 6066 §3): exactly one host_name entry. */
function serverName(data: Buffer): string | HelloRead {
  if (data.length < 2 || data.readUInt16BE(0) !== data.length - 2) return refuse('malformed server_name extension');
  let name: string | undefined;
  for (let at = 2; at < data.length;) {
    if (at + 3 > data.length) return refuse('malformed server_name extension');
    const type = data[at];
    const length = data.readUInt16BE(at + 1);
    if (at + 3 + length > data.length || length === 0) return refuse('malformed server_name extension');
    if (type === HOST_NAME) {
      if (name !== undefined) return refuse('the ClientHello names two servers');
      name = data.toString('latin1', at + 3, at + 3 + length);
    }
    at += 3 + length;
  }
  return name ?? refuse('the server_name extension holds no host name');
}
