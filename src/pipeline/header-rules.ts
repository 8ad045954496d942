import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderOps, HeaderRules } from '../config/types.js';
import { expand, type RequestContext } from './expand.js';
import type { FieldRules, FieldSink } from '../http/respond.js';

/**
 * Request rules (README "Header rules") on the headers going upstream, after the edge's own (forwarded
 * headers are owned names, refused at load). A value that expands to nothing is not sent, as
 * nginx's proxy_set_header with an empty value.
 */
export function applyRequestRules(ops: HeaderOps, headers: IncomingHttpHeaders, c: RequestContext): void {
  for (const name of ops.remove) delete headers[name];
  for (const { name, value } of ops.set) {
    const text = expand(value, c);
    if (text === null || text === '') delete headers[name];
    else headers[name] = text;
  }
  for (const { name, value } of ops.add) {
    const text = expand(value, c);
    if (text === null || text === '') continue;
    const old = headers[name];
    headers[name] = old === undefined ? text : `${Array.isArray(old) ? old.join(', ') : old}, ${text}`;
  }
}

/**
 * Response rules on a flat [name, value, …] list, for proxied and generated answers alike
 * (nginx's `always` unless a block names its statuses). Names in `pairs` may have any case.
 */
export function applyResponseRules(rules: HeaderRules, status: number, pairs: string[], c: RequestContext): void {
  for (const block of rules.response) {
    if (block.statuses !== null && !block.statuses.includes(status)) continue;
    for (const name of block.remove) removePairs(pairs, name);
    for (const { name, value } of block.set) {
      const text = expand(value, c);
      removePairs(pairs, name);
      if (text !== null && text !== '') pairs.push(name, text);
    }
    for (const { name, value } of block.add) {
      const text = expand(value, c);
      if (text !== null && text !== '') pairs.push(name, text);
    }
  }
}

function removePairs(pairs: string[], name: string): void {
  for (let i = pairs.length - 2; i >= 0; i -= 2) {
    if ((pairs[i] as string).toLowerCase() === name) pairs.splice(i, 2);
  }
}

/** A request's response rules and what their templates read; null for a route or site without any. */
export class AnswerRules implements FieldRules {
  constructor(
    readonly rules: HeaderRules,
    readonly context: RequestContext,
  ) {}

  rule(res: FieldSink, status: number): void {
    ruleResponse(res, status, this);
  }
}

/**
 * The same rules on a response whose fields are set but not sent (files, error pages, guard
 * refusals): the answer's own fields first, so a rule's `set` replaces them (README "Header rules").
 */
export function ruleResponse(res: FieldSink, status: number, r: AnswerRules): void {
  for (const block of r.rules.response) {
    if (block.statuses !== null && !block.statuses.includes(status)) continue;
    for (const name of block.remove) res.removeHeader(name);
    for (const { name, value } of block.set) {
      const text = expand(value, r.context);
      if (text !== null && text !== '') res.setHeader(name, text);
      else res.removeHeader(name);
    }
    for (const { name, value } of block.add) {
      const text = expand(value, r.context);
      if (text === null || text === '') continue;
      const old = res.getHeader(name);
      res.setHeader(name, old === undefined ? text : [...(typeof old === 'object' ? old : [String(old)]), text]);
    }
  }
}

/** What the rules alone give `name` on a `status` answer that has no such field of its own (joined as one value). */
export function ruledValue(r: AnswerRules, status: number, name: string): string | undefined {
  const pairs: string[] = [];
  applyResponseRules(r.rules, status, pairs, r.context);
  const values = pairs.filter((_, i) => i % 2 === 1 && (pairs[i - 1] as string).toLowerCase() === name);
  return values.length === 0 ? undefined : values.join(', ');
}
