/**
 * The HTTP contract of each route, from the zod schemas of libs/contracts:
 * `@ValidBody(Schema)` / `@ValidQuery(Schema)` validate a request with the
 * schema and document it with the same schema; `@Answers(Schema)` documents
 * the success body and `@Problems(...codes)` the error bodies (ProblemBody,
 * one response per status, naming its codes). The OpenAPI document is built
 * from these (see openapi.ts), so what the api checks and what it documents
 * cannot drift apart.
 */
import { applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiBody, ApiProduces, ApiQuery, ApiResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod';
import * as contracts from '#contracts';
import { HTTP_ERRORS, findUnsafeText, type ApiErrorCode, type ProblemDetail } from '#contracts';
import { ApiError } from './api-error.js';
import { invalidText } from './text-guard.middleware.js';

/** The schemas of the contracts by export name: the names of the document's components. */
const NAMES = new Map<z.ZodType, string>(
  Object.entries(contracts).flatMap(([name, value]) =>
    value instanceof z.ZodType ? [[value as z.ZodType, name] as const] : [],
  ),
);

/** Schemas used as request (input) and as answer (output) bodies, by component name. */
const used = { input: new Map<string, z.ZodType>(), output: new Map<string, z.ZodType>() };

/** The JSON Schema (2020-12) of a schema, with contract schemas as `$ref`s to components. */
function reference(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const name = NAMES.get(schema);
  if (!name)
    throw new Error('Document only schemas exported by libs/contracts (their name names the component).');
  const component = io === 'input' && used.output.has(name) ? `${name}Input` : name;
  used[io].set(component, schema);
  return { $ref: `#/components/schemas/${component}` };
}

/** The components every documented schema needs, generated from the zod schemas (JSON Schema 2020-12). */
export function contractComponents(): Record<string, Record<string, unknown>> {
  const components: Record<string, Record<string, unknown>> = {};
  for (const io of ['output', 'input'] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of used[io]) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, {
      target: 'draft-2020-12',
      io,
      uri: (id) => `#/components/schemas/${id}`,
      unrepresentable: 'any',
    });
    for (const [id, schema] of Object.entries(schemas)) {
      const { $id: _id, $schema: _schema, ...rest } = schema as Record<string, unknown>;
      components[id] = rest;
    }
  }
  return components;
}

/** Reads issues as people do: `field message`, unknown fields as "x should not exist". */
function describeIssues(issues: z.core.$ZodIssue[], root: string): ProblemDetail[] {
  return issues.flatMap((issue) => {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => {
        const field = at ? `${at}.${key}` : key;
        return { field, message: `${field} should not exist` };
      });
    const field = at || root;
    const message = issue.message.startsWith(field) ? issue.message : `${field} ${issue.message}`;
    return [{ field, message }];
  });
}

/**
 * Parses a request part with its schema; every problem at once, as 400 VALIDATION_FAILED with details
 * (or as `code`, for a route whose refusals have their own code, e.g. 422 WEBHOOK_INVALID).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code?: ApiErrorCode,
): z.output<S> {
  // Bodies and queries were checked before routing; a multipart form is parsed later, by its route.
  const unsafe = findUnsafeText(value, what.split(' ').pop() ?? 'body');
  if (unsafe) throw invalidText(unsafe);
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const details = describeIssues(parsed.error.issues, what.split(' ').pop() ?? 'body');
  const message = `Invalid ${what}: ${details.map((d) => d.message).join('; ')}`;
  throw code ? new ApiError(code, message, details) : ApiError.validation(message, details);
}

/** The 400 every validated route can answer. */
const invalidRequest = () => problemResponses(['VALIDATION_FAILED']);

/** Applies method decorators from a parameter decorator (the parameter's method is the target). */
const onMethod =
  (...decorators: MethodDecorator[]): ParameterDecorator =>
  (target, key) => {
    if (key === undefined) return;
    const descriptor = Object.getOwnPropertyDescriptor(target, key)!;
    for (const decorator of decorators) decorator(target, key, descriptor);
  };

/**
 * The request body, validated with `schema` (400 with every problem, or `code` when given: the
 * body's refusals then answer with that code, documented too) and documented with it.
 */
export const ValidBody = <S extends z.ZodType>(schema: S, what = 'body', code?: ApiErrorCode) =>
  createParamDecorator(
    (_data: unknown, context: ExecutionContext) =>
      parseInput(schema, context.switchToHttp().getRequest<Request>().body, what, code),
    [
      onMethod(
        ApiBody({ schema: reference(schema, 'input') }),
        invalidRequest(),
        ...(code ? [problemResponses([code])] : []),
      ),
    ],
  )();

/** The query string, validated with `schema` and documented parameter by parameter. */
export const ValidQuery = <S extends z.ZodType>(schema: S, what = 'query') => {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  const parameters = Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return ApiQuery({
      name,
      required: json.required?.includes(name) ?? false,
      description: description as string | undefined,
      schema: rest,
    });
  });
  return createParamDecorator(
    (_data: unknown, context: ExecutionContext) =>
      parseInput(schema, context.switchToHttp().getRequest<Request>().query, what),
    [onMethod(...parameters, invalidRequest())],
  )();
};

/** Options of Answers. */
export interface AnswerOptions {
  /** The success status (200 unless the route says otherwise). */
  status?: number;
  description?: string;
  /** A media type other than JSON (text/csv, text/event-stream…) for the body instead of JSON. */
  produces?: string;
  /** A text media type the route answers with besides JSON (content negotiation). */
  orText?: string;
}

/** Documents a success answer: its status and its body schema from the contracts (none for 204 and 304). */
export function Answers(schema: z.ZodType | undefined, options: AnswerOptions = {}): MethodDecorator {
  const status = options.status ?? 200;
  const description = options.description ?? (status === 201 ? 'Created' : 'OK');
  if (options.produces)
    return applyDecorators(
      ApiProduces(options.produces),
      ApiResponse({
        status,
        description,
        content: {
          [options.produces]: { schema: schema ? reference(schema, 'output') : { type: 'string' } },
        },
      }),
    );
  if (!schema) return ApiResponse({ status, description });
  return ApiResponse({
    status,
    description,
    content: {
      'application/json': { schema: reference(schema, 'output') },
      ...(options.orText ? { [options.orText]: { schema: { type: 'string' } } } : {}),
    },
  });
}

function problemResponses(codes: readonly ApiErrorCode[]): MethodDecorator {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of codes) {
    const status = HTTP_ERRORS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, list]) =>
      ApiResponse({
        status,
        description: list.map((code) => `${code}: ${HTTP_ERRORS[code].meaning}`).join('; '),
        content: { 'application/json': { schema: reference(contracts.ProblemBody, 'output') } },
      }),
    ),
  );
}

/**
 * Documents the error answers a route gives besides those of its token (401/403, see @Roles) and
 * of its validated input (400): each with the ProblemBody schema, one response per status naming
 * its codes.
 */
export function Problems(...codes: ApiErrorCode[]): MethodDecorator {
  return problemResponses(codes);
}
