import { rootOf, allScopes } from './content-util.js';
import type { Scope } from './scope.js';

/** Where a `proxy_pass` sends requests: the Gatehouse upstream name and the URI part, if any. */
export type ProxyTarget = { name: string; path: string | null } | { error: string };

/**
 * The upstream a `proxy_pass URL` names in the import: the `upstream NAME {}` block it names, or
 * for a bare `host:port` a name made from them (`127.0.0.1:3000` → `127.0.0.1-3000`, `app:8080`
 * → `app-8080`). The core translator names the upstreams it writes by this same rule.
 */
export function proxyUpstream(url: string, anywhere: Scope): ProxyTarget {
  if (/\$/.test(url)) return { error: 'proxy_pass with a variable' };
  const m = /^(https?):\/\/(unix:[^:]+:?|\[[^\]]+\](?::\d+)?|[^/:]+(?::\d+)?)(\/.*)?$/i.exec(url);
  if (m === null) return { error: `"${url}" is not an http(s):// URL` };
  const authority = m[2] ?? '';
  const path = m[3] ?? null;
  const blocks = allScopes(rootOf(anywhere)).filter((s) => s.kind === 'upstream').map((s) => s.directive?.args[0]);
  if (blocks.includes(authority)) return { name: authority, path };
  if (authority.startsWith('unix:')) return { name: authority.replace(/^unix:/, '').replace(/:$/, '').replace(/^.*\//, '').replace(/\.sock$/, '') || 'unix', path };
  const name = authority.replace(/^\[|\]/g, '').replace(/[:[\]]/g, '-');
  return { name: m[1]?.toLowerCase() === 'https' && !name.includes('-') ? `${name}-443` : name, path };
}
