// fastify 5 + @fastify/http-proxy as a bench peer (bench/peers.mjs starts it):
//   node bench/peer-fastify.mjs PORT CERT KEY BACKEND [ACCESS_LOG]
// TLS 1.3 only, HSTS on every answer, keep-alive to the backend through @fastify/http-proxy's
// undici pool, WebSocket upgrades relayed (`websocket: true`), fastify's own request logging
// (pino) into ACCESS_LOG when given, as a fastify user gets it by default.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const [port, cert, key, backend, log] = process.argv.slice(2);
const app = Fastify({
  https: { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.3' },
  logger: log ? { level: 'info', file: log } : false,
  keepAliveTimeout: 75_000,
});
app.addHook('onSend', async (_req, reply) => {
  reply.header('strict-transport-security', 'max-age=31536000');
});
await app.register(proxy, { upstream: `http://${backend}`, websocket: true });
await app.listen({ port: Number(port), host: '127.0.0.1' });
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => app.close().then(() => process.exit(0)));
