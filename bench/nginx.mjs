// An nginx config equivalent to the bench's Gatehouse config: TLS 1.3 only, the same
// certificate, HSTS on every response, keep-alive upstream pool, X-Forwarded-* and
// WebSocket upgrades. Everything (pid, logs, temp paths) lives under bench/out. With `h2Port`,
// a second server block on that port speaks HTTP/2 (ALPN h2), the first one stays HTTP/1.1.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** nginx 1.25.1 moved HTTP/2 from a `listen` parameter to the `http2 on` directive. */
export function http2Syntax() {
  const [major, minor, patch] = (/nginx\/(\d+)\.(\d+)\.(\d+)/.exec(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr) ?? []).slice(1).map(Number);
  const modern = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
  return modern ? { listen: 'ssl', directive: 'http2 on;' } : { listen: 'ssl http2', directive: '' };
}

function serverBlock({ listen, extra, cert, key, cache }) {
  return `  server {
    listen ${listen};
    ${extra}
    server_name localhost;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
${cache ? CACHED_LOCATION : ''}
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
    }
  }`;
}

/** `cache-hit`: Gatehouse's cached route in nginx terms (add_header repeated: a location's own add_header drops the server's). */
const CACHED_LOCATION = `    location /cached/ {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
      proxy_cache gatehouse_bench;
      proxy_cache_valid 200 10m;
      add_header Strict-Transport-Security "max-age=31536000" always;
      add_header Cache-Status "nginx; $upstream_cache_status" always;
    }`;

export function writeNginxConfig({ dir, port, h2Port, cert, key, backends, workers = 1, cache = false }) {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  for (const t of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', t), { recursive: true });
  const file = join(dir, `nginx-${workers}-${port}.conf`);
  writeFileSync(file, `
worker_processes ${workers};
pid ${join(dir, `nginx-${port}.pid`)};
error_log ${join(dir, 'logs', 'error.log')} warn;
events { worker_connections 20000; }
http {
  access_log ${join(dir, 'logs', 'access.log')} combined buffer=64k flush=1s;
  # nginx closes a client connection after 1,000 requests by default (and h2load, unlike wrk,
  # does not reconnect): Gatehouse has no such limit, so neither does the nginx it is timed against.
  keepalive_requests 1000000;
  client_body_temp_path ${join(dir, 'tmp', 'client')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  upstream app {
${backends.map((b) => `    server ${b};`).join('\n')}
    hash $remote_addr consistent;
    keepalive 64;
    keepalive_requests 1000000;
  }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
${cache ? `  proxy_cache_path ${join(dir, 'tmp', 'cache')} levels=1:2 keys_zone=gatehouse_bench:10m max_size=1g;` : ''}
${serverBlock({ listen: `127.0.0.1:${port} ssl`, extra: '', cert, key, cache })}
${h2Port === undefined ? '' : serverBlock({ listen: `127.0.0.1:${h2Port} ${http2Syntax().listen}`, extra: http2Syntax().directive, cert, key, cache })}
}
`);
  return file;
}
