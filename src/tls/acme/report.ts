import { X509Certificate } from 'node:crypto';
import type { AcmeConfig } from '../../config/types.js';
import { describeHost, type AcmeState } from './state.js';
import { AcmeStorage } from './storage.js';

/** `gatehouse check`: one line per ACME host — its stored certificate, state and next attempt — read from storage. */
export async function describeAcme(acme: AcmeConfig, now = Date.now()): Promise<string[]> {
  const storage = new AcmeStorage(acme.storage);
  let state: AcmeState = {};
  const lines: string[] = [];
  try {
    state = await storage.readState();
  } catch (err) {
    lines.push(`${storage.statePath}: warning: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  for (const host of acme.hosts) {
    let cert: { notAfter: number; serial: string } | undefined;
    try {
      const pem = await storage.read(storage.certPaths(host).cert);
      if (pem !== undefined) {
        const x509 = new X509Certificate(pem);
        cert = { notAfter: Date.parse(x509.validTo), serial: x509.serialNumber };
      }
    } catch {
      cert = undefined;
    }
    lines.push(describeHost(host, state[host], cert, now));
  }
  return lines;
}
