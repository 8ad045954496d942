import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { basicConfig, startEdge, tempDir } from './edge.js';
import { startBackend } from './upstream.js';

/** Driving the user-facing load tester (bench/user.mjs) from tests, bounded. */
export const USER = join(import.meta.dirname, '..', '..', 'bench', 'user.mjs');
export type Tap = Parameters<typeof tempDir>[0];

export interface Latency { count: number; p50: number; p90: number; p99: number; max: number }
export interface Summary {
  model: string; requests: number; reqPerS: number; sent: number; planned: number | null; shortfall: number;
  errors: Record<string, number>; errorRate: number; latencyMs: Latency; byClass: Record<string, Latency>;
  tls: { alpn: string | null }; hsts: string | null; generator: { cpuPercentOfOneCore: number; eventLoopBusy: number[] };
  timeline: { rps: number; errors: Record<string, number> }[];
  /** [upper bound ms, answers] per log-spaced bucket. */
  histogram: [number, number][];
}
export interface Run { code: number | null; stdout: string; stderr: string; out: string; summary?: Summary; html?: string }

/** Run bench/user.mjs to completion (killed after 90 s); its JSON summary when it wrote one. */
export async function load(t: Tap, args: readonly string[]): Promise<Run> {
  const out = tempDir(t, 'gatehouse-load-');
  const child = spawn(process.execPath, [USER, '--out', out, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(guard);
  if (code === null) throw new Error(`bench/user.mjs ${args.join(' ')} did not finish in 90 s:\n${stderr}`);
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  return {
    code, stdout, stderr, out,
    ...(json ? { summary: JSON.parse(readFileSync(join(out, json), 'utf8')) as Summary } : {}),
    ...(html ? { html: join(out, html) } : {}),
  };
}

export async function edgeAndBackend(t: Tap, handler?: Parameters<typeof startBackend>[1]): Promise<{ url: string; ca: string }> {
  const backend = await startBackend(t, handler ?? ((_req, res) => res.end('x'.repeat(100))));
  const { port, certs } = await startEdge(t, basicConfig([backend.address], 'log: { level: warn }'));
  return { url: `https://localhost:${port}/`, ca: certs.ca.cert };
}

/** The share of answers whose latency was at least `ms` (whole buckets whose lower bound is ≥ ms). */
export function shareAtLeast(s: Summary, ms: number): number {
  let slow = 0;
  s.histogram.forEach(([, count], i) => { if (i > 0 && s.histogram[i - 1]![0] >= ms) slow += count; });
  return s.latencyMs.count === 0 ? 0 : slow / s.latencyMs.count;
}
