import { spawnSync } from 'node:child_process';
import t from 'tap';
import { CLI } from './helpers/process.js';
import { writeConfigFile } from './helpers/edge.js';

t.test('check reports config errors and certificate problems of one file in one run', async (t) => {
  const { file, certs } = await writeConfigFile(t, `
tls:
  certificates:
    - { cert: /nonexistent/fullchain.pem, key: /nonexistent/privkey.pem }
    - { cert: "{{cert}}", key: "{{key}}" }
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
