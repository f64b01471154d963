// The egress proxy's pure parts: host spellings, address classes, host grants, the decision and its messages, the
// ClientHello reader (real ClientHellos, split at every byte and fragmented over records), credentials, framing.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { test } from 'node:test';
import ipaddr from 'ipaddr.js';
import { readClientHello } from '../src/adapters/egress/client-hello.ts';
import { proxyCredentials } from '../src/adapters/egress/credentials.ts';
import { egressFacts } from '../src/adapters/egress/facts.ts';
import { hostHeaderProblem, parseAbsoluteTarget, plainRequestHeaders } from '../src/adapters/egress/forward.ts';
import { compileEgressGrant, matchHost } from '../src/adapters/egress/grant.ts';
import { parseAuthority, parseHost, type Endpoint } from '../src/adapters/egress/host.ts';
import { decideEgress, explainEgress, type EgressRules } from '../src/adapters/egress/policy.ts';
import { checkAddress, parseCidrs, selfMatcher, type AddressRules } from '../src/adapters/egress/ranges.ts';
import { checkServerName } from '../src/adapters/egress/tunnel.ts';
import { lintConfig } from '../src/config/lint.ts';
import { parseConfig, type ConfigError } from '../src/config/load.ts';
import { egressGrant, type EgressConnection, type EgressGrant } from '../src/config/schema.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { parseByteRate, RateLimiter } from '../src/pipeline/rate.ts';

const host = (raw: string) => {
  const h = parseHost(raw);
  return h.ok ? h.value.name : `! ${h.reason}`;
};
const endpoint = (raw: string): Endpoint => {
  const e = parseAuthority(raw);
  if (!e.ok) throw new Error(e.reason);
  return e.value;
};
const open: AddressRules = { allowPrivate: [], isSelf: () => false };
const check = (address: string, rules = open, port = 443) => checkAddress(ipaddr.parse(address), port, rules);

test('every spelling of an IP address is one canonical address before anything is matched', () => {
  for (const spelling of ['127.0.0.1', '127.1', '127.0.1', '0x7f.1', '0X7F.0.0.1', '0x7f.0x0.0x0.0x1', '0177.0.0.1', '00000000177.1', '127.000.000.001',
    '2130706433', '017700000001', '0x7f000001', '127.0.0.1.', '[::ffff:127.0.0.1]', '[::FFFF:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]']) {
    assert.equal(host(spelling), '127.0.0.1', spelling);
  }
  assert.equal(host('4294967295'), '255.255.255.255');
  assert.equal(host('0'), '0.0.0.0');
  assert.equal(host('[::127.0.0.1]'), '::7f00:1', 'the IPv4-compatible form is not the mapped one');
  assert.equal(host('[2001:DB8:0:0::1]'), '2001:db8::1');
  assert.equal(host('Example.COM.'), 'example.com');
  assert.equal(host('xn--bcher-kva.de'), 'xn--bcher-kva.de');
  for (const bad of ['08.1.1.1', '1.2.3.256', '4294967296', '0x100000000', '0x', 'a.0x10', '1.2.3.4.5', '[fe80::1%eth0]', '::1', '[::ffff:127.1]',
    'exa mple.com', 'ex%61mple.com', 'bücher.de', '', '.', 'example.com..', '-', 'a..b', `${'a'.repeat(64)}.com`, 'under\\score.com']) {
    assert.match(host(bad), /^! /, `"${bad}" must be refused`);
  }
  assert.deepEqual(parseAuthority('[2001:db8::1]:8443'), { ok: true, value: { host: { kind: 'ip', ip: ipaddr.parse('2001:db8::1'), name: '2001:db8::1' }, port: 8443 } });
  for (const bad of ['example.com', 'example.com:', 'example.com:0', 'example.com:65536', 'example.com:+443', '2001:db8::1:443', '[::1]']) {
    assert.equal(parseAuthority(bad).ok, false, bad);
  }
});

test('address classes: everything special-purpose is refused by default, the documentation ranges and public addresses pass', () => {
  const refused: [string, RegExp][] = [
    ['0.0.0.0', /unspecified/], ['0.1.2.3', /unspecified/], ['10.1.2.3', /private/], ['100.64.0.1', /carrier-grade NAT/], ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/], ['169.254.1.1', /link-local/], ['172.16.0.1', /private/], ['172.31.255.255', /private/], ['192.0.0.8', /IETF/],
    ['192.88.99.1', /6to4 relay/], ['192.168.1.1', /private/], ['198.18.0.1', /benchmarking/], ['224.0.0.1', /multicast/], ['239.255.255.250', /multicast/],
    ['240.0.0.1', /class E/], ['255.255.255.255', /broadcast/],
    ['::', /unspecified/], ['::1', /loopback/], ['::7f00:1', /IPv4-compatible/], ['::a00:1', /IPv4-compatible/], ['100::1', /discard/],
    ['2001:2::1', /benchmarking/], ['2001:10::1', /ORCHID/], ['fc00::1', /unique local/], ['fd12:3456::1', /unique local/], ['fec0::1', /site-local/],
    ['fe80::1', /link-local/], ['ff02::1', /multicast/], ['4000::1', /global unicast/],
    // IPv6 forms that carry an IPv4 address a translator or relay will reach.
    ['64:ff9b::a00:1', /NAT64, embedding 10\.0\.0\.1/], ['64:ff9b::7f00:1', /NAT64, embedding 127\.0\.0\.1/],
    ['64:ff9b:1:a00:1:100::', /NAT64 \(local use\), embedding 10\.0\.1\.1/], ['::ffff:0:a00:1', /SIIT/],
    ['2002:a00:1::', /6to4, embedding 10\.0\.0\.1/], ['2002:7f00:1::1', /6to4, embedding 127\.0\.0\.1/],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', /Teredo, embedding 10\.0\.0\.1/], ['2001:0:a00:1::', /Teredo, embedding 10\.0\.0\.1/],
  ];
  for (const [address, why] of refused) {
    const v = check(address);
    assert.equal(v.ok, false, address);
    assert.match(!v.ok ? v.reason : '', why, address);
  }
  for (const metadata of ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe']) {
    const v = check(metadata, { allowPrivate: parseCidrs(['0.0.0.0/0', '::/0']), isSelf: () => false });
    assert.equal(v.ok, false, metadata);
    assert.match(!v.ok ? v.reason : '', /metadata/, metadata);
  }
  // Must-allow twins: public and documentation addresses, and translation forms that embed a public address.
  for (const address of ['203.0.113.7', '198.51.100.1', '192.0.2.1', '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2001:db8::1', '2606:4700::1111',
    '64:ff9b::cb00:7107', '2002:cb00:7107::1', '2001:0:cb00:7107::34ff:8ef8', '::ffff:203.0.113.7']) {
    assert.deepEqual(check(address), { ok: true }, address);
  }
});

test('allow_private is the explicit exception, named in the verdict; the gateway itself stays refused under it', () => {
  const rules: AddressRules = { allowPrivate: parseCidrs(['10.20.0.0/16', '127.0.0.1', 'fd00:1::/32']), isSelf: selfMatcher(() => ['127.0.0.1:7070', '0.0.0.0:3128', '[::]:9000']) };
  const v = check('10.20.3.4', rules);
  assert.equal(v.ok, true);
  assert.match(v.ok ? v.allowedPrivate ?? '' : '', /10\.20\.3\.4 \(private \(RFC 1918\): 10\.0\.0\.0\/8\) allowed by allow_private 10\.20\.0\.0\/16/);
  assert.equal(check('10.21.0.1', rules).ok, false);
  assert.equal(check('fd00:1::5', rules).ok, true);
  assert.equal(check('127.0.0.1', rules, 8080).ok, true);
  for (const [address, port] of [['127.0.0.1', 7070], ['127.0.0.1', 3128], ['127.0.0.5', 3128], ['::1', 9000], ['::ffff:127.0.0.1', 7070], ['64:ff9b::7f00:1', 7070]] as const) {
    const self = check(address, rules, port);
    assert.equal(self.ok, false, `${address}:${port}`);
    assert.match(!self.ok ? self.reason : '', /own listener/);
  }
  for (const bad of ['10.1/8', '10.0.0.0/33', 'example.com', 'fe80::1%eth0/64', '']) assert.throws(() => parseCidrs([bad]), /allow_private/, bad);
});

test('host grants: exact names, subdomain wildcards, ports, IP literals, and deny wins', () => {
  const g = compileEgressGrant(egressGrant.parse({
    hosts: ['en.wikipedia.org', '*.arxiv.org', 'api.github.com:443', 'Docs.Example.com.', '203.0.113.7', '[2001:db8::7]:8443', '*.github.com'],
    deny: ['gist.github.com', '*.evil.arxiv.org'],
  }));
  const rule = (target: string) => {
    const m = matchHost(g, endpoint(target));
    return m.ok ? m.rule.text : m.denied ? `deny ${m.denied.text}` : 'none';
  };
  assert.equal(rule('en.wikipedia.org:443'), 'en.wikipedia.org');
  assert.equal(rule('EN.Wikipedia.ORG.:80'), 'en.wikipedia.org');
  assert.equal(rule('en.wikipedia.org:8080'), 'none');
  assert.equal(rule('fr.wikipedia.org:443'), 'none');
  assert.equal(rule('export.arxiv.org:443'), '*.arxiv.org');
  assert.equal(rule('a.b.arxiv.org:80'), '*.arxiv.org');
  assert.equal(rule('arxiv.org:443'), 'none', '*.x does not match x itself');
  assert.equal(rule('evilarxiv.org:443'), 'none');
  assert.equal(rule('x.evil.arxiv.org:443'), 'deny *.evil.arxiv.org');
  assert.equal(rule('api.github.com:443'), 'api.github.com:443');
  assert.equal(rule('api.github.com:80'), '*.github.com', 'another rule may still cover another port');
  assert.equal(rule('gist.github.com:443'), 'deny gist.github.com');
  assert.equal(rule('gist.github.com:22'), 'deny gist.github.com', 'a deny entry without a port covers every port');
  assert.equal(rule('docs.example.com:443'), 'Docs.Example.com.');
  assert.equal(rule('203.0.113.7:443'), '203.0.113.7');
  assert.equal(rule('3405803783:443'), '203.0.113.7', 'an IP grant matches every spelling of that address');
  assert.equal(rule('[::ffff:cb00:7107]:80'), '203.0.113.7');
  assert.equal(rule('[2001:db8:0::7]:8443'), '[2001:db8::7]:8443');
  assert.equal(rule('203.0.113.8:443'), 'none', 'an IP literal is reached only when a grant names it');
  for (const bad of ['*.203.0.113.7', 'host:0', 'host:99999', '[2001:db8::1%eth0]']) assert.throws(() => compileEgressGrant({ hosts: [bad], deny: [] }), bad);
  for (const bad of ['a.*.com', '*', 'http://example.com', 'example.com/path', 'exa mple.com']) assert.equal(egressGrant.safeParse({ hosts: [bad] }).success, false, bad);
});

test('approve: tunnels and plain requests that wait for a human, by verb and host glob (with or without a port)', () => {
  const g = compileEgressGrant(egressGrant.parse({ hosts: ['*.stripe.com', 'uploads.example.com'], approve: ['CONNECT *.stripe.com:443', 'POST uploads.example.com', 'files.example.com'] }));
  assert.equal(g.approve('CONNECT', 'api.stripe.com:443'), 'CONNECT *.stripe.com:443');
  assert.equal(g.approve('CONNECT', 'api.stripe.com:80'), undefined);
  assert.equal(g.approve('GET', 'api.stripe.com:443'), undefined);
  assert.equal(g.approve('post', 'UPLOADS.example.com:8080'.toLowerCase()), 'POST uploads.example.com');
  assert.equal(g.approve('GET', 'files.example.com:80'), 'files.example.com', 'a bare host: any tunnel or request to it');
  assert.equal(g.approve('CONNECT', '[2001:db8::1]:443'), undefined);
  assert.throws(() => compileEgressGrant({ hosts: [], deny: [], approve: ['FETCH a.example'] }), /"FETCH" is not one of CONNECT/);
  const rules: EgressRules = { role: 'r', connection: 'internet', raw: egressGrant.parse({ hosts: ['*.stripe.com'] }), grant: g, addresses: open };
  const held = decideEgress({ ...egressFacts('internet', 'CONNECT', endpoint('api.stripe.com:443')), addresses: [ipaddr.parse('203.0.113.5')] }, rules, 't');
  assert.deepEqual(held, { kind: 'hold', grant: 'hosts "*.stripe.com"', reason: 'CONNECT api.stripe.com:443 waits for a human: roles.r.internet.approve has "CONNECT *.stripe.com:443"', obligations: {} });
});

test('the decision: deny list, host grant, metadata names, every resolved address, then budgets; each refusal names its rule', () => {
  const raw = egressGrant.parse({ hosts: ['*.example.com', 'metadata.google.internal'], rate: '2/min', max_bytes: '1KB/hour' });
  const rules: EgressRules = {
    role: 'researcher', connection: 'internet', raw, grant: compileEgressGrant(raw), addresses: { allowPrivate: parseCidrs(['10.20.0.0/16']), isSelf: () => false },
    rate: new RateLimiter(2, 60_000), bytes: new RateLimiter(1024, 3_600_000),
  };
  const decide = (target: string, addresses: string[], token = 't1') =>
    decideEgress({ ...egressFacts('internet', 'CONNECT', endpoint(target)), addresses: addresses.map((a) => ipaddr.parse(a)) }, rules, token, 1_000_000);
  assert.deepEqual(decide('metadata.google.internal:80', ['203.0.113.1']), { kind: 'deny', rule: 'egress.address', message: 'metadata.google.internal is a cloud metadata endpoint, refused whatever the grant says' });
  const mixed = decide('www.example.com:443', ['203.0.113.1', '10.0.0.1']);
  assert.equal(mixed.kind, 'deny');
  assert.match(mixed.kind === 'deny' ? mixed.message : '', /www\.example\.com resolves to 10\.0\.0\.1 is private.*it resolves to 203\.0\.113\.1, 10\.0\.0\.1; every address must be allowed/);
  const unresolved = decideEgress({ ...egressFacts('internet', 'CONNECT', endpoint('www.example.com:443')), unresolved: 'www.example.com cannot be resolved (no such name)' }, rules, 't1');
  assert.deepEqual([unresolved.kind, unresolved.kind === 'deny' && unresolved.rule], ['deny', 'egress.dns']);
  const exception = decide('intranet.example.com:443', ['10.20.0.9']);
  assert.equal(exception.kind, 'allow');
  assert.match(exception.kind === 'allow' ? exception.grant : '', /^hosts "\*\.example\.com"; 10\.20\.0\.9 .* allowed by allow_private 10\.20\.0\.0\/16$/);
  assert.equal(decide('www.example.com:443', ['203.0.113.1']).kind, 'allow', 'refusals took nothing from the rate');
  const third = decide('www.example.com:443', ['203.0.113.1']);
  assert.deepEqual([third.kind === 'deny' && third.rule, third.retryAfter], ['egress.rate', 30]);
  const over = decide('www.example.com:443', ['203.0.113.1'], 't2');
  assert.equal(over.kind, 'allow');
  rules.bytes!.spend('t2', 5000, 1_000_000);
  const spent = decide('www.example.com:443', ['203.0.113.1'], 't2');
  assert.deepEqual([spent.kind === 'deny' && spent.rule, spent.retryAfter], ['egress.max_bytes', 13_982]);
});

/** A real ClientHello, as Node's TLS client sends it to a local listener that only records it. */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  const captured: Buffer[] = [];
  const server = createServer((s) => s.on('data', (c: Buffer) => { captured.push(c); s.destroy(); }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tls = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: servername ?? '' });
  await new Promise((resolve) => tls.once('error', resolve).once('close', resolve));
  server.close();
  return Buffer.concat(captured);
}

/** The same handshake message carried in TLS records of at most `size` bytes each. */
function fragment(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) {
    const piece = message.subarray(at, at + size);
    records.push(Buffer.from([22, 3, 1, piece.length >> 8, piece.length & 0xff]), piece);
  }
  return Buffer.concat(records);
}

test('ClientHello: the server name is read from a real ClientHello, whole, split at every byte, or fragmented over records', async () => {
  const hello = await clientHello('en.wikipedia.org');
  assert.deepEqual(readClientHello(hello), { kind: 'hello', sni: 'en.wikipedia.org', ech: false });
  for (let cut = 0; cut < hello.length; cut++) assert.deepEqual(readClientHello(hello.subarray(0, cut)), { kind: 'more' }, `cut at ${cut}`);
  for (const size of [1, 7, 100, 512]) {
    const records = fragment(hello, size);
    assert.deepEqual(readClientHello(records), { kind: 'hello', sni: 'en.wikipedia.org', ech: false }, `records of ${size}`);
    for (let cut = 0; cut < records.length; cut += 13) assert.equal(readClientHello(records.subarray(0, cut)).kind, 'more');
  }
  const none = await clientHello(undefined);
  assert.deepEqual(readClientHello(none), { kind: 'hello', sni: undefined, ech: false });
  assert.match(checkServerName(readClientHello(none), endpoint('en.wikipedia.org:443')) ?? '', /names no server \(SNI\)/);
  assert.equal(checkServerName(readClientHello(none), endpoint('203.0.113.7:443')), undefined, 'a tunnel to an IP literal carries no SNI');
  assert.match(checkServerName(readClientHello(hello), endpoint('203.0.113.7:443')) ?? '', /names en\.wikipedia\.org/);
  assert.match(checkServerName(readClientHello(hello), endpoint('api.github.com:443')) ?? '', /names en\.wikipedia\.org, but the tunnel was granted for api\.github\.com:443/);
  assert.equal(checkServerName(readClientHello(hello), endpoint('EN.wikipedia.org.:443')), undefined);
});

/** Rewrites a ClientHello's extensions with `edit`, fixing every length on the way out. */
function withExtensions(hello: Buffer, edit: (extensions: Buffer) => Buffer): Buffer {
  const body = hello.subarray(9, 5 + hello.readUInt16BE(3));
  let at = 34;
  at += 1 + body[at];
  at += 2 + body.readUInt16BE(at);
  at += 1 + body[at];
  const extensions = edit(body.subarray(at + 2, at + 2 + body.readUInt16BE(at)));
  const newBody = Buffer.concat([body.subarray(0, at), Buffer.from([extensions.length >> 8, extensions.length & 0xff]), extensions]);
  const message = Buffer.concat([Buffer.from([1, 0, newBody.length >> 8, newBody.length & 0xff]), newBody]);
  return Buffer.concat([Buffer.from([22, 3, 1, message.length >> 8, message.length & 0xff]), message]);
}

const extension = (type: number, data: Buffer) => Buffer.concat([Buffer.from([type >> 8, type & 0xff, data.length >> 8, data.length & 0xff]), data]);
const serverNames = (...names: string[]) => {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0, n.length >> 8, n.length & 0xff]), Buffer.from(n)])));
  return Buffer.concat([Buffer.from([list.length >> 8, list.length & 0xff]), list]);
};

test('ClientHello: what cannot be checked is refused — two names, two SNI extensions, ECH, non-TLS, SSLv2, oversized, interleaved', async () => {
  const plain = await clientHello(undefined);
  const refuse = (bytes: Buffer, why: RegExp) => {
    const r = readClientHello(bytes);
    assert.equal(r.kind, 'refuse', why.source);
    assert.match(r.kind === 'refuse' ? r.reason : '', why);
  };
  refuse(withExtensions(plain, (e) => Buffer.concat([extension(0, serverNames('en.wikipedia.org', 'evil.example')), e])), /names two servers/);
  refuse(withExtensions(plain, (e) => Buffer.concat([extension(0, serverNames('a.example')), extension(0, serverNames('b.example')), e])), /appears twice/);
  refuse(withExtensions(plain, (e) => Buffer.concat([extension(0, Buffer.from([0, 5, 0, 0, 2, 0x61])), e])), /malformed server_name/);
  const ech = withExtensions(plain, (e) => Buffer.concat([extension(0, serverNames('en.wikipedia.org')), extension(0xfe0d, Buffer.alloc(40, 1)), e]));
  assert.deepEqual(readClientHello(ech), { kind: 'hello', sni: 'en.wikipedia.org', ech: true });
  assert.match(checkServerName(readClientHello(ech), endpoint('en.wikipedia.org:443')) ?? '', /Encrypted Client Hello/);
  refuse(Buffer.from('GET / HTTP/1.1\r\n'), /did not start with a TLS handshake/);
  refuse(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), /SSLv2/);
  refuse(Buffer.from([22, 3, 1, 0, 4, 1, 0x10, 0, 0]), /larger than/);
  refuse(Buffer.concat([fragment(plain, 50).subarray(0, 55), Buffer.from([23, 3, 3, 0, 1, 0])]), /interleaved/);
  refuse(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0]), /not a ClientHello/);
  refuse(Buffer.from([22, 3, 1, 0, 0]), /record length/);
});

test('Proxy-Authorization: Basic with the token as password (what HTTPS_PROXY credentials send) or Bearer; anything else is refused precisely', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
  assert.deepEqual(proxyCredentials(basic('rag:gth_secret')), { ok: true, secret: 'gth_secret', user: 'rag' });
  assert.deepEqual(proxyCredentials(basic(':gth_secret')), { ok: true, secret: 'gth_secret', user: undefined });
  assert.deepEqual(proxyCredentials('Bearer gth_secret'), { ok: true, secret: 'gth_secret' });
  assert.deepEqual(proxyCredentials('bearer  gth_secret'), { ok: true, secret: 'gth_secret' });
  const refused = (header: string | string[] | undefined, why: RegExp, missing = false) => {
    const p = proxyCredentials(header);
    assert.equal(p.ok, false);
    assert.equal(!p.ok && p.missing, missing);
    assert.match(!p.ok ? p.message : '', why);
  };
  refused(undefined, /missing Gatehouse token: set HTTPS_PROXY=http:\/\/<label>:<token>@/, true);
  refused(basic('gth_secret'), /the token goes in the password part/);
  refused(basic('rag:'), /the token goes in the password part/);
  refused('Basic !!!', /not valid base64/);
  refused('Digest abc', /scheme "Digest" is not accepted/);
  refused('Bearer', /malformed/);
  refused(['Bearer a', 'Bearer b'], /more than once/);
});

test('plain requests: only http:// absolute-form, no credentials in the URL, a Host header that agrees, hop-by-hop and the token dropped', () => {
  const target = (raw: string) => {
    const t = parseAbsoluteTarget(raw);
    return t.ok ? `${t.value.target.host.name}:${t.value.target.port} ${t.value.path}` : `! ${t.reason}`;
  };
  assert.equal(target('http://Example.COM/a?b=1'), 'example.com:80 /a?b=1');
  assert.equal(target('HTTP://example.com:8080'), 'example.com:8080 /');
  assert.equal(target('http://example.com?x'), 'example.com:80 /?x');
  assert.equal(target('http://0x7f.1/admin'), '127.0.0.1:80 /admin');
  assert.match(target('/origin-form'), /this is a forward proxy/);
  assert.match(target('https://example.com/'), /HTTPS goes through CONNECT/);
  assert.match(target('ftp://example.com/'), /not proxied/);
  assert.match(target('http://allowed.example@evil.example/'), /credentials in a proxied URL/);
  assert.match(target('http://example.com/a#frag'), /fragment/);
  assert.match(target('http://ex%61mple.com/'), /not a valid host name label/);
  assert.match(target('http://example.com\\@evil.example/'), /credentials/);
  const e = endpoint('example.com:80');
  assert.equal(hostHeaderProblem('EXAMPLE.com', e), undefined);
  assert.equal(hostHeaderProblem('example.com:80', e), undefined);
  assert.equal(hostHeaderProblem(undefined, e), undefined);
  assert.match(hostHeaderProblem('internal.example', e) ?? '', /does not name the request target/);
  assert.match(hostHeaderProblem('example.com:8080', e) ?? '', /does not name/);
  const headers = plainRequestHeaders({
    host: 'example.com', connection: 'close, x-secret-hop', 'x-secret-hop': '1', 'proxy-authorization': 'Basic abc', 'proxy-connection': 'keep-alive',
    'keep-alive': '5', te: 'trailers', 'transfer-encoding': 'chunked', expect: '100-continue', 'x-gatehouse-run': 'r1', 'x-leak': 'a gth_secret b',
    authorization: 'Bearer site-token', accept: 'text/html',
  }, endpoint('example.com:8080'), 'gth_secret');
  assert.deepEqual(headers, { authorization: 'Bearer site-token', accept: 'text/html', host: 'example.com:8080' });
  assert.equal(plainRequestHeaders({}, endpoint('[2001:db8::1]:80'), 's').host, '[2001:db8::1]');
});

test('byte budgets: sizes per period as people write them', () => {
  assert.deepEqual(parseByteRate('50MB/hour'), { limit: 50 * 1024 * 1024, periodMs: 3_600_000 });
  assert.deepEqual(parseByteRate('1.5KB/s'), { limit: 1536, periodMs: 1000 });
  assert.deepEqual(parseByteRate('2GiB/day'), { limit: 2 * 1024 ** 3, periodMs: 86_400_000 });
  for (const bad of ['0MB/hour', '5TB/hour', '50MB', '50MB/fortnight', 'MB/hour']) assert.throws(() => parseByteRate(bad), bad);
  const budget = new RateLimiter(100, 1000);
  assert.equal(budget.spend('t', 60, 0), 40);
  assert.equal(budget.spend('t', 60, 0), -20, 'bytes already relayed are charged whatever is left');
  assert.equal(budget.retryAfter('t', 0), 1);
  assert.equal(budget.retryAfter('t', 1000), 0, 'the budget refills over its period');
});

test('config: kind egress loads as the product brief writes it; request rules and interception are refused with a reason', () => {
  const base = (grant: string, conn = '') => `
connections:
  internet: { kind: egress, listen: 127.0.0.1:3128, allow_private: [] ${conn || ', intercept: false'} }
roles:
  researcher:
    internet: ${grant}
`;
  const config = parseConfig(base('{ hosts: ["en.wikipedia.org", "*.arxiv.org", "api.github.com:443"], deny: ["gist.github.com"], rate: 120/min, max_bytes: 50MB/hour }'));
  assert.deepEqual(config.roles.researcher.internet, {
    hosts: ['en.wikipedia.org', '*.arxiv.org', 'api.github.com:443'], deny: ['gist.github.com'], approve: [], rate: '120/min', max_bytes: '50MB/hour',
  });
  assert.equal((config.connections.internet as EgressConnection).header_timeout_ms, 10_000);
  const problems = (yaml: string) => {
    try { parseConfig(yaml); } catch (err) { return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`); }
    return [];
  };
  // Rules on requests inside tunnels need interception: without it they stop the start, naming the key and its line.
  for (const key of ['allow: ["GET a.example/x"]', 'headers: { a.example: { Authorization: "Bearer k" } }', 'guards: { pii: redact }']) {
    try {
      parseConfig(base(`\n      { hosts: [a.example], ${key} }`));
      assert.fail(`${key} loaded without intercept: true`);
    } catch (err) {
      const [p] = (err as ConfigError).problems;
      assert.match(`${p.path}: ${p.message}`, /^roles\.researcher\.internet\.(allow|headers|guards): judges requests inside TLS tunnels, which needs connections\.internet\.intercept: true/);
      assert.equal(p.line, 7, 'the problem points at the grant\'s line');
    }
  }
  const intercepting = parseConfig(base('{ hosts: [a.example], allow: ["GET a.example/x"], headers: { a.example: { Authorization: "Bearer k" } }, guards: { secrets: block } }', ', intercept: true, pass_through: [pinned.example]'));
  assert.deepEqual((intercepting.connections.internet as EgressConnection).ca, { cert: './gatehouse-ca.pem', key: './gatehouse-ca.key' });
  assert.deepEqual((intercepting.roles.researcher.internet as EgressGrant).guards, { secrets: 'block', pii: 'off' });
  assert.match(problems(base('{ hosts: ["http://a.example/"] }')).join('\n'), /roles\.researcher\.internet\.hosts\.0: expected a host/);
  assert.match(problems(base('{ hosts: [a.example], max_bytes: 50 }')).join('\n'), /max_bytes/);
  const lint = lintConfig(parseConfig(base('{ hosts: [], deny: [] }'))).map((f) => f.message).join('\n');
  assert.match(lint, /no hosts listed/);
  assert.match(lintConfig(parseConfig(base('{ hosts: [a.example], deny: [a.example] }'))).map((f) => f.message).join('\n'), /also in deny, which wins/);
});

test('a grant or allow_private that cannot mean anything stops the gateway at start-up, naming where', async () => {
  const start = (yaml: string) => startGateway(parseConfig(`admin: { listen: "127.0.0.1:0" }\nstore: "sqlite::memory:"\n${yaml}`), { log: silent });
  await assert.rejects(start(`
connections:
  internet: { kind: egress, listen: "127.0.0.1:0", allow_private: ["10.1/8"] }
`), /connections\.internet\.allow_private: "10\.1\/8" is not an address or CIDR range/);
  await assert.rejects(start(`
connections:
  internet: { kind: egress, listen: "127.0.0.1:0" }
roles:
  r: { internet: { hosts: ["*.203.0.113.7"] } }
`), /roles\.r\.internet: "\*\.203\.0\.113\.7": a wildcard applies to names/);
});

test('policy explain for egress: the host-level decision, and an IP literal\'s address', () => {
  const grant = egressGrant.parse({ hosts: ['api.github.com:443', '10.0.0.1', '*.arxiv.org'], deny: ['evil.arxiv.org'] });
  const rules: AddressRules = { allowPrivate: [], isSelf: () => false };
  assert.deepEqual(explainEgress('api.github.com', grant, 'r', 'internet', rules), { kind: 'allow', grant: 'hosts "api.github.com:443"', obligations: {} });
  assert.match(JSON.stringify(explainEgress('api.github.com:80', grant, 'r', 'internet', rules)), /port 80 of api\.github\.com is not granted/);
  assert.match(JSON.stringify(explainEgress('evil.arxiv.org', grant, 'r', 'internet', rules)), /egress\.deny/);
  assert.match(JSON.stringify(explainEgress('0xa.1:443', grant, 'r', 'internet', rules)), /10\.0\.0\.1 is private/);
  assert.match(JSON.stringify(explainEgress('a.example', undefined, 'r', 'internet', rules)), /role \\"r\\" has no grant/);
});
