// Demo upstreams for `npm start`: each answers HTTP with what it received (so the forwarded
// headers and the sticky target are visible) and echoes WebSocket messages on any path.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

/** Start one demo backend on 127.0.0.1:port; resolves with the server. */
export function startDemoBackend(port, name = `backend-${port}`) {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const body = JSON.stringify({
      backend: name,
      method: req.method,
      url: req.url,
      host: req.headers.host,
      forwardedFor: req.headers['x-forwarded-for'],
      forwardedProto: req.headers['x-forwarded-proto'],
      realIp: req.headers['x-real-ip'],
    }, null, 2);
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.send(`hello from ${name}`);
    ws.on('message', (data, binary) => ws.send(data, { binary }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
