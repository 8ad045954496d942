import type { EdgeError } from '../errors.js';
import type { ClientResponse } from '../http/message.js';
import type { Exchange, StandInAnswers } from '../proxy/forward.js';
import { respondRuled } from './actions.js';
import { replaceWithPage, respondWithPage } from './error-pages.js';
import type { RequestContext } from './expand.js';
import { RouteShaper } from './shaper.js';

/**
 * The answers the edge writes in an upstream's place. Each carries the HSTS the exchange started
 * with (null over plain HTTP), so one request never mixes two runtimes' policies across a reload.
 */
export const standInAnswers: StandInAnswers = {
  // 408 also closes: the request body was left half-read. A site's error page wins for its statuses.
  fail(res: ClientResponse, error: EdgeError, exchange: Exchange): void {
    const pages = exchange.pages;
    const shaper = exchange.shaper instanceof RouteShaper ? exchange.shaper : null;
    const close = error.code === 'EDGE_ERR_REQUEST_TIMEOUT';
    if (pages !== undefined && pages.pages.has(error.status)) {
      respondWithPage(res, pages, error, exchange.hsts, error.text, close, undefined, shaper?.ruled(exchange) ?? null);
      return;
    }
    respondRuled(res, error, exchange.hsts, error.text, close, shaper?.rules ?? null, exchange.context as RequestContext | null);
  },
  page(res: ClientResponse, status: number, file: string, exchange: Exchange): void {
    const shaper = exchange.shaper instanceof RouteShaper ? exchange.shaper : null;
    replaceWithPage(res, status, exchange.hsts, file, exchange.closeClient, shaper?.ruled(exchange) ?? null);
  },
};
