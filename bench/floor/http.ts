// The floor of Node itself for the HTTP path: a bare reverse proxy with keep-alive upstream connections, nothing inspected.
// Usage: node --import tsx bench/floor/http.ts <listenPort> <upstream base URL>
import { Agent, createServer, request } from 'node:http';

const [listenPort, upstream] = [Number(process.argv[2]), new URL(process.argv[3])];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
createServer((req, res) => {
  const up = request({
    host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent,
  }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(up);
}).listen(listenPort, '127.0.0.1', () => process.send?.('ready'));
