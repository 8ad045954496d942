import { once } from 'node:events';
import t from 'tap';
import { basicConfig, reloadEdge, startEdge } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { startBackend } from './helpers/upstream.js';
import { until, within } from './helpers/wait.js';

t.test('shutdown sends GOAWAY and lets an in-flight h2 stream finish within timeouts.drain', async (t) => {
  let release: (() => void) | undefined;
  const backend = await startBackend(t, (_req, res) => { release = () => res.end('finished'); });
  const { port, edge } = await startEdge(t, basicConfig([backend.address], 'timeouts: { drain: 5s }'));
  const session = await h2Session(t, port);
  const pending = h2Request(session, { ':path': '/slow' });
  await until(2000, () => release !== undefined, 'the in-flight /slow request reaching the backend');
  const goaway = once(session, 'goaway');
  const closing = edge.close();
  await within(5000, goaway, 'GOAWAY on shutdown');
  t.pass('GOAWAY received while a stream is in flight');
  release?.();
  const reply = await pending;
  t.equal(reply.status, 200);
  t.equal(reply.body, 'finished', 'the in-flight stream completed after GOAWAY');
  await closing;
  t.equal(edge.state, 'closed');
});

t.test('timeouts.idle closes an h2 connection with no open stream', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { idle: 300ms }'));
  const session = await h2Session(t, port);
  t.equal((await h2Request(session)).status, 200);
  await within(5000, once(session, 'close'), 'the edge closing an idle h2 session (timeouts.idle 300ms)');
  t.pass('the idle session was closed by the edge');
});

t.test('a reload keeps open h2 connections serving; new settings reach new connections', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, basicConfig([backend.address]));
  const session = await h2Session(t, running.port);
  t.equal((await h2Request(session)).status, 200);
  t.ok((await reloadEdge(t, running, basicConfig([backend.address], 'http2: { maxConcurrentStreams: 7 }'))).applied);
  t.equal((await h2Request(session)).status, 200, 'the open connection still serves');
  t.notOk(session.closed || session.destroyed);
  const fresh = await h2Session(t, running.port);
  if (fresh.remoteSettings.maxConcurrentStreams !== 7) await within(5_000, once(fresh, 'remoteSettings'), 'SETTINGS from the edge on fresh');
  t.equal(fresh.remoteSettings.maxConcurrentStreams, 7);
});
