// An nginx config equivalent to the bench's Gatehouse config: TLS 1.3 only, the same
// certificate, HSTS on every response, keep-alive upstream pool, X-Forwarded-* and
// WebSocket upgrades. Everything (pid, logs, temp paths) lives under bench/out.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeNginxConfig({ dir, port, cert, key, backends, workers = 1 }) {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  for (const t of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', t), { recursive: true });
  const file = join(dir, `nginx-${workers}.conf`);
  writeFileSync(file, `
worker_processes ${workers};
pid ${join(dir, `nginx-${workers}.pid`)};
error_log ${join(dir, 'logs', 'error.log')} warn;
events { worker_connections 20000; }
http {
  access_log ${join(dir, 'logs', 'access.log')} combined buffer=64k flush=1s;
  client_body_temp_path ${join(dir, 'tmp', 'client')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  upstream app {
${backends.map((b) => `    server ${b};`).join('\n')}
    hash $remote_addr consistent;
    keepalive 64;
  }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
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
  }
}
`);
  return file;
}
