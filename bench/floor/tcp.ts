// The floor of Node itself for the PostgreSQL path: a bare TCP passthrough, no parsing, no policy, no audit.
// Usage: node --import tsx bench/floor/tcp.ts <listenPort> <upstreamHost> <upstreamPort>
import { connect, createServer } from 'node:net';

const [listenPort, upHost, upPort] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: upHost, port: upPort, noDelay: true });
  client.pipe(upstream).pipe(client);
  const done = () => { client.destroy(); upstream.destroy(); };
  client.on('error', done).on('close', done);
  upstream.on('error', done).on('close', done);
}).listen(listenPort, '127.0.0.1', () => process.send?.('ready'));
