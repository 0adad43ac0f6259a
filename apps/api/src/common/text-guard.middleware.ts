/**
 * The edge's text check, once for every route: before routing, guards and
 * validation, each string of a request (path, query names and values, JSON
 * body values and keys) must be storable text (see libs/contracts text.ts).
 * A NUL, a lone surrogate or bytes that are not UTF-8 get 400 INVALID_TEXT
 * naming the field, instead of a 500 from PostgreSQL deep inside a query.
 * It is a plain Express middleware mounted before the routes, not a Nest one:
 * Nest mounts its middleware on a wildcard route whose parameter Express
 * percent-decodes first, and a path that does not decode would be refused
 * there with a bare 400 before the check could name it.
 * Multipart forms are parsed later, by the upload route: multer hands their
 * fields and file names over as Latin-1 (byte for byte) and formText() checks
 * and decodes them.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import {
  ApiErrorCode,
  findUnsafeText,
  httpStatusOf,
  unsafeText,
  unsafeTextCode,
  type ProblemBody,
  type UnsafeText,
} from '#contracts';
import { ApiError } from './api-error.js';

/** Set on a request whose JSON body was not UTF-8 (the body parser would have replaced the bytes silently). */
const BODY_NOT_UTF8 = Symbol('flashfarm.bodyNotUtf8');

/** The body parser's `verify` hook: remembers a JSON body whose raw bytes are not UTF-8. */
export function markBodyNotUtf8(request: IncomingMessage, _response: unknown, raw: Buffer): void {
  if (!isUtf8(raw)) (request as IncomingMessage & { [BODY_NOT_UTF8]?: true })[BODY_NOT_UTF8] = true;
}

/** The bytes a percent-encoded URL component stands for (characters past ASCII kept as the bytes Node read). */
function percentDecoded(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === '%' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

/** The problem of one URL component, or undefined. */
function componentProblem(raw: string, field: string): UnsafeText | undefined {
  const bytes = percentDecoded(raw);
  if (bytes.includes(0)) return unsafeText(field, 'NUL_CHARACTER');
  if (!isUtf8(bytes)) return unsafeText(field, 'INVALID_UTF8');
  return undefined;
}

/** The first unstorable string in the path or the query string, checked on the raw bytes. */
export function urlProblem(originalUrl: string): UnsafeText | undefined {
  const q = originalUrl.indexOf('?');
  const path = q < 0 ? originalUrl : originalUrl.slice(0, q);
  const found = componentProblem(path, 'path');
  if (found || q < 0) return found;
  for (const pair of originalUrl.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const nameProblem = componentProblem(rawName, 'a query parameter name');
    if (nameProblem) return nameProblem;
    // The name is good UTF-8 now; decoding cannot throw, and it names the field for the client.
    const name = percentDecoded(rawName.replace(/\+/g, ' ')).toString('utf8');
    const valueProblem = eq < 0 ? undefined : componentProblem(pair.slice(eq + 1), `query.${name}`);
    if (valueProblem) return valueProblem;
  }
  return undefined;
}

/** The 400 for a string that cannot be stored. */
export function invalidText(problem: UnsafeText): ApiError {
  return new ApiError(ApiErrorCode.INVALID_TEXT, `The request was refused: ${problem.message}`, [
    { field: problem.field, code: problem.code, message: problem.message },
  ]);
}

/** Refuses a request any of whose strings cannot be stored (see the file comment); Express middleware. */
export function textGuard(request: Request, response: Response, next: NextFunction): void {
  const problem =
    urlProblem(request.originalUrl) ??
    ((request as Request & { [BODY_NOT_UTF8]?: true })[BODY_NOT_UTF8]
      ? unsafeText('body', 'INVALID_UTF8')
      : findUnsafeText(request.body, 'body'));
  if (!problem) {
    next();
    return;
  }
  // Answered here, in the exception filter's shape: this runs outside Nest's routing and filters.
  const error = invalidText(problem);
  const body: ProblemBody = {
    statusCode: httpStatusOf(error.code),
    code: error.code,
    message: error.message,
    details: error.details,
  };
  response.status(body.statusCode).json(body);
}

/** The check for one string outside a JSON body (a form field, an uploaded file's name). */
export function checkText(text: string, field: string): void {
  const code = unsafeTextCode(text);
  if (code) throw invalidText(unsafeText(field, code));
}

/**
 * A multipart form's text as it will be stored: multer is told to read field values and file
 * names as Latin-1 (firmware.module.ts), which keeps every byte, so here they are checked as
 * UTF-8 and decoded. A file name sent with an explicit charset (filename*=UTF-8'') arrives
 * decoded already (characters past U+00FF); it is only checked.
 */
export function formText(text: string, field: string): string {
  // eslint-disable-next-line no-control-regex -- any character past Latin-1 means the text was decoded already
  if (/[^\u0000-\u00ff]/.test(text)) {
    checkText(text, field);
    return text;
  }
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.includes(0)) throw invalidText(unsafeText(field, 'NUL_CHARACTER'));
  if (!isUtf8(bytes)) throw invalidText(unsafeText(field, 'INVALID_UTF8'));
  return bytes.toString('utf8');
}
