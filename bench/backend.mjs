// The shared upstream for benches: 100-byte HTTP answers and a WebSocket echo, keep-alive,
// on 127.0.0.1. Run alone: `node bench/backend.mjs PORT` prints {"port":N} when listening.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const BODY = Buffer.alloc(100, 'x');

export function startBenchBackend(port = 0) {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 65_000;
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startBenchBackend(Number(process.argv[2] ?? 0));
  console.log(JSON.stringify({ port: server.address().port }));
}
