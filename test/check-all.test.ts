import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { CLI } from './helpers/process.js';

t.test('check reports config errors and certificate problems of one file in one run', async (t) => {
  const certs = await testCerts();
  const file = join(tempDir(t), 'gatehouse.yaml');
  writeFileSync(file, `
tls:
  certificates:
    - { cert: /nonexistent/fullchain.pem, key: /nonexistent/privkey.pem }
    - { cert: "${certs.a.cert}", key: "${certs.a.key}" }
upstreams: { app: { targets: [127.0.0.1:3000], maxFails: lots } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 1);
  t.match(r.stdout, `${file}:6:58 expected a whole number`, 'the config error, with its position');
  t.match(r.stdout, '/nonexistent/fullchain.pem: no such file', 'and the missing certificate file');
  t.match(r.stdout, `${certs.a.cert}: ok`, 'the good pair is still reported');
  t.match(r.stdout, 'configuration has errors');
});
