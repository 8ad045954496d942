import type { Directive } from './parse.js';

/** One nginx context: the block a directive sits in, and the contexts around it. */
export interface Scope {
  kind: 'main' | 'http' | 'server' | 'location' | 'if' | 'upstream' | 'map' | string;
  directive?: Directive;
  directives: Directive[];
  parent?: Scope;
}

/**
 * The `name` directives in force at `scope` under nginx's rule for array-type directives
 * (`add_header`, `proxy_set_header`, `proxy_hide_header`, …): a level that has any of them
 * replaces everything its parents had; a level with none inherits the nearest level that has some.
 */
export function nearest(scope: Scope, name: string): Directive[] {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const own = s.directives.filter((d) => d.name === name);
    if (own.length > 0) return own;
  }
  return [];
}

/** The single-valued `name` directive in force at `scope` (the innermost level's; its last if repeated). */
export function nearestOne(scope: Scope, name: string): Directive | undefined {
  return nearest(scope, name).at(-1);
}

/** A child scope for a block directive inside `parent`. */
export function childScope(parent: Scope, d: Directive): Scope {
  return { kind: d.name, directive: d, directives: d.block ?? [], parent };
}

/** The innermost scope, from `scope` outwards, that has its own `name` directives (what `nearest` returns comes from there). */
export function levelOf(scope: Scope, name: string): Scope | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    if (s.directives.some((d) => d.name === name)) return s;
  }
  return undefined;
}
