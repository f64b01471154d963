// A raw TCP upstream for the egress bench: `download <bytes>\n` streams that many bytes and closes; `echo\n` echoes the rest.
// Usage: node --import tsx bench/upstreams/tcp.ts <port>
import { createServer, type Socket } from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function download(socket: Socket, bytes: number) {
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}

createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf('\n');
    if (nl < 0) return;
    socket.off('data', onData);
    const [command, arg] = head.subarray(0, nl).toString().split(' ');
    const rest = head.subarray(nl + 1);
    if (command === 'download') return download(socket, Number(arg));
    if (rest.length) socket.write(rest);
    socket.pipe(socket);
  };
  socket.on('data', onData);
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
