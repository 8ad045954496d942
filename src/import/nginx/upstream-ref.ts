/**
 * Where a `proxy_pass` sends requests: `upstream` is the URL without its URI part
 * (`http://app`, `http://127.0.0.1:3000`, `http://unix:/run/app.sock:`), for the core
 * translator to resolve into the name of an upstream it writes (its Upstreams.resolve), and
 * `path` the URI part, if any.
 */
export type ProxyTarget = { upstream: string; path: string | null } | { error: string };

const PASS = /^(https?):\/\/(unix:[^:]+:?|\[[^\]]+\](?::\d+)?|[^/:]+(?::\d+)?)(\/.*)?$/i;

export function proxyTarget(url: string): ProxyTarget {
  if (url.includes('$')) return { error: 'proxy_pass with a variable' };
  const m = PASS.exec(url);
  if (m === null) return { error: `"${url}" is not an http(s):// URL` };
  return { upstream: `${(m[1] ?? 'http').toLowerCase()}://${m[2] ?? ''}`, path: m[3] ?? null };
}
