import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { contentType } from 'mime-types';
import type { ErrorPagesConfig } from '../config/files.js';
import type { EdgeError } from '../errors.js';
import { ruleResponse, type AnswerRules } from './header-rules.js';
import { isH2, type ClientResponse } from '../http/message.js';
import { reasonPhrase, respond, writePlain } from '../http/respond.js';

/**
 * A generated answer: the site's error page for `status` when it has one — read
 * now, so an edited page is served without a restart — else respond()'s plain text. Status,
 * HSTS and `extra` headers are kept either way; a page that cannot be read falls back to the text.
 */
export function respondWithPage(
  res: ClientResponse, pages: ErrorPagesConfig | undefined, error: EdgeError, hsts: string | null, text: string, close = false, extra?: Readonly<Record<string, string>>,
  ruled: AnswerRules | null = null,
): void {
  if (extra !== undefined) for (const name in extra) res.setHeader(name, extra[name] as string);
  const status = error.status;
  const file = pages?.pages.get(status);
  if (file === undefined) {
    respond(res, error, hsts, text, close, ruled);
    return;
  }
  readFile(file).then((body) => writePage(res, status, hsts, file, body, close, ruled), () => respond(res, error, hsts, text, close, ruled));
}

/** The page as the body of `status` (the upstream's own answer with errorPages.upstream, or ours), under the route's header rules. */
export function writePage(res: ClientResponse, status: number, hsts: string | null, file: string, body: Buffer, close: boolean, ruled: AnswerRules | null): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader('content-type', contentType(basename(file)) || 'text/html; charset=utf-8');
  res.setHeader('content-length', body.length);
  res.setHeader('cache-control', 'no-store');
  if (hsts !== null) res.setHeader('strict-transport-security', hsts);
  if (ruled !== null) ruleResponse(res, status, ruled);
  if (close && !isH2(res)) res.setHeader('connection', 'close');
  if (close && isH2(res)) {
    const stream = res.stream;
    res.end(body, () => stream.close());
  } else {
    res.end(body);
  }
}

/** An upstream answer's body replaced by the page (errorPages.upstream); its plain reason when the page cannot be read. */
export function replaceWithPage(res: ClientResponse, status: number, hsts: string | null, file: string, close: boolean, ruled: AnswerRules | null): void {
  readFile(file).then((body) => writePage(res, status, hsts, file, body, close, ruled), () => writePlain(res, status, hsts, reasonPhrase(status, 'error'), close, ruled));
}
