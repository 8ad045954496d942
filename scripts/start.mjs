// `npm start`: dev certificates (first run only), two demo backends, then gatehouse on
// config.example.yaml. Signals are passed on, so Ctrl-C drains gatehouse like in production.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDevCerts } from './certs.mjs';
import { startDemoBackend } from './demo-backend.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = process.env.GATEHOUSE_CONFIG || `${root}config.example.yaml`;

try {
  ensureDevCerts(`${root}certs`);
} catch (err) {
  console.error(`npm start: cannot make the dev certificates: ${err.message}`);
  process.exit(1);
}
const backends = [];
for (const port of [3000, 3001]) {
  try {
    backends.push(await startDemoBackend(port));
  } catch (err) {
    console.error(`demo backend on 127.0.0.1:${port} not started (${err.code ?? err.message}); using whatever listens there`);
  }
}
console.log('demo backends up; try: curl --cacert certs/ca.pem https://localhost:8443/');
const child = spawn(process.execPath, [`${root}dist/cli.js`, '--config', config], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  for (const b of backends) b.close();
  process.exit(code ?? (signal ? 1 : 0));
});
