// A small local HTTPS upstream for the egress interception bench: the HTTP bench's invoice over TLS.
// Usage: node --import tsx bench/upstreams/https.ts <port> <cert.pem> <key.pem>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const body = JSON.stringify({ id: 42, amount: 129.0, currency: 'EUR', status: 'paid', lines: [{ sku: 'A-1001', qty: 2, price: 19.99 }, { sku: 'B-2002', qty: 1, price: 89.02 }], note: 'thank you for your business' });
createServer({ cert: readFileSync(process.argv[3]), key: readFileSync(process.argv[4]) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
