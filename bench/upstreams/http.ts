// A small local HTTP upstream for the HTTP bench: one JSON invoice, keep-alive, nothing else to do.
// Usage: node --import tsx bench/upstreams/http.ts <port>
import { createServer } from 'node:http';

const body = JSON.stringify({ id: 42, amount: 129.0, currency: 'EUR', status: 'paid', lines: [{ sku: 'A-1001', qty: 2, price: 19.99 }, { sku: 'B-2002', qty: 1, price: 89.02 }], note: 'thank you for your business' });
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
