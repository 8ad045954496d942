import t from 'tap';
import { writeConfigFile } from './helpers/edge.js';
import { routeCommand, type RouteAnswer } from '../src/tools/route.js';

const YAML = `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["127.0.0.1:9"] }
sites:
  - hosts: [localhost]
    routes:
      - exact: /favicon.ico
        respond: { status: 204 }
      - regex: '^/api/(?<project>\\d+)/store/?$'
        upstream: app
        rewrite: /api/{re.project}/envelope/
      - path: /packs/
        overridesRegex: true
        upstream: app
      - path: /docs/
        upstream: app
        stripPrefix: true
      - path: /old/
        redirect: { to: "/new/{rest}", status: 301 }
      - path: /w/
        methods: [POST]
        upstream: app
      - path: /
        upstream: app
`;

t.test('route --path explains which route matched, why, its captures and what the action does', async (t) => {
  const { file } = await writeConfigFile(t, YAML);
  const ask = async (path: string, method?: string): Promise<RouteAnswer> => {
    const r = await routeCommand({ config: file, ip: '127.0.0.1', path, json: true, ...(method === undefined ? {} : { method }) }, undefined);
    t.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as RouteAnswer;
  };
  const fav = await ask('/favicon.ico');
  t.match(fav, { route: '/favicon.ico', match: 'exact', captures: null, action: 'respond 204' });
  t.notOk('upstream' in fav, 'a respond route names no upstream');
  const api = await ask('/api/42/store?x=1');
  t.match(api, { match: 'regex', captures: { 1: '42', project: '42' }, action: 'proxy to upstream app as /api/42/envelope/?x=1', upstream: 'app' });
  t.match(api.why, /first regex in file order/);
  const packs = await ask('/packs/app.js');
  t.match(packs, { match: 'prefix', route: '/packs/' });
  t.match(packs.why, /overridesRegex/);
  t.match(await ask('/docs/a/b'), { action: 'proxy to upstream app as /a/b' });
  const old = await ask('/old/x');
  t.match(old.action, /^redirect 301 to https:\/\/localhost\/new\/x$/);
  t.match(await ask('/docs'), { match: 'exact', action: '301 to /docs/' });
  t.match(await ask('/w/x', 'POST'), { route: '/w/' });
  t.match(await ask('/w/x'), { route: '/' }, 'a GET skips the POST-only route');
  const text = await routeCommand({ config: file, ip: '127.0.0.1', path: '/api/7/store' }, undefined);
  t.match(text.stdout, /\nmatch +regex: first regex in file order that matches/);
  t.match(text.stdout, /\ncaptures +\{re\.1\}="7" \{re\.project\}="7"/);
});
