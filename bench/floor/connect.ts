// The floor of Node itself for the egress path: a bare CONNECT relay, no token, no policy, no lookup, no audit.
// Usage: node --import tsx bench/floor/connect.ts <listenPort>
import { createServer } from 'node:http';
import { connect } from 'node:net';

createServer().on('connect', (req, client, head) => {
  const i = req.url!.lastIndexOf(':');
  const upstream = connect({ host: req.url!.slice(0, i), port: Number(req.url!.slice(i + 1)), noDelay: true }, () => {
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client).pipe(upstream);
  });
  const done = () => { client.destroy(); upstream.destroy(); };
  client.on('error', done).on('close', done);
  upstream.on('error', done).on('close', done);
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
