#!/usr/bin/env node
// The container image's HEALTHCHECK: GET /healthz on the admin listener named by the config
// (listen.admin, read with Gatehouse's own parser), or on $GATEHOUSE_HEALTHZ when set.
// Exit 0 on 200; 1 otherwise (503 while starting or draining, no answer, no admin listener).
/* global fetch, AbortSignal */
import { readFileSync } from 'node:fs';
import { parseConfig } from '../dist/config/load.js';

function healthzUrl() {
  if (process.env.GATEHOUSE_HEALTHZ) return process.env.GATEHOUSE_HEALTHZ;
  const file = process.env.GATEHOUSE_CONFIG;
  if (!file) throw new Error('neither GATEHOUSE_HEALTHZ nor GATEHOUSE_CONFIG is set');
  const admin = parseConfig(readFileSync(file, 'utf8'), file).config?.listen.admin;
  if (!admin) throw new Error(`${file}: no usable listen.admin, so there is no /healthz to ask`);
  // A wildcard bind is asked on loopback: the check runs inside the container's own network.
  const host = admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}/healthz`;
}

try {
  const url = healthzUrl();
  const res = await fetch(url, { signal: AbortSignal.timeout(2500) });
  console.log(`${url}: ${res.status} ${await res.text()}`);
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  console.log(`healthcheck: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
