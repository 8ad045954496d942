// Node's floor for bench/files.mjs: the least a Node process does to answer the same requests
// over the same TLS. It is a measuring stick, not a file server: every file is read into memory
// once at start, and a request is answered with that buffer (its type, length, ETag and HSTS);
// the JSON is fetched from the backend over a pooled keep-alive agent and gzipped in one shot
// (gzipSync, level 6: inline, the cheapest way Node has) when the client accepts it. No path checks, no conditionals, no log.
//
//   node bench/files-floor.mjs PORT CERT KEY PUBLIC_DIR BACKEND
import { readFileSync, readdirSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const [port, cert, key, pub, backend] = process.argv.slice(2);
const HSTS = 'max-age=31536000';
const files = new Map(readdirSync(pub).map((name) => [`/static/${name}`, readFileSync(join(pub, name))]));
const [host, backendPort] = backend.split(':');
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function answerJson(req, res) {
  get({ host, port: Number(backendPort), path: req.url, agent }, (up) => {
    const parts = [];
    up.on('data', (c) => parts.push(c));
    up.on('end', () => {
      const body = Buffer.concat(parts);
      if (!/gzip/.test(req.headers['accept-encoding'] ?? '')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'strict-transport-security': HSTS });
        res.end(body);
        return;
      }
      const z = gzipSync(body, { level: 6 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', vary: 'Accept-Encoding', 'content-length': z.length, 'strict-transport-security': HSTS });
      res.end(z);
    });
  }).on('error', () => res.destroy());
}

createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const body = files.get(req.url);
  if (body !== undefined) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag: '"1-1"', 'accept-ranges': 'bytes', 'strict-transport-security': HSTS });
    res.end(body);
    return;
  }
  if (req.url.startsWith('/api/')) return answerJson(req, res);
  res.writeHead(404, { 'content-length': 0 }).end();
}).listen(Number(port), '127.0.0.1');
