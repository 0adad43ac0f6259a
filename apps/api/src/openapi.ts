/**
 * The OpenAPI 3.1 document of the api (/api/openapi.json): Nest's scan of the
 * controllers gives the routes and parameters; every request and response body
 * is a component generated from the zod schemas of libs/contracts (JSON Schema
 * 2020-12), so the document says what the code validates and returns.
 */
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { HTTP_ERRORS } from '#contracts';
import { contractComponents } from './common/http-contract.js';

/** Builds the document for the routes of `app`. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setOpenAPIVersion('3.1.0')
      .setTitle('flashfarm api')
      .setDescription(
        'Firmware intake, flash jobs, devices, agents and live events of a flashfarm device farm. ' +
          'Every error answer is a ProblemBody with a stable code; the code decides the status.',
      )
      .setVersion('1')
      // Tokens are opaque random secrets (ff_…), looked up by hash; nothing can be read from them.
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque', description: 'An API token' })
      .build(),
  );
  // Express tags every JSON answer of a GET with an ETag and answers 304 when If-None-Match holds it
  // (browsers send it on their own): every GET with a JSON body can answer 304 with no body.
  for (const item of Object.values(document.paths)) {
    const responses = item.get?.responses;
    const ok = responses?.['200'];
    if (responses && ok && 'content' in ok && ok.content?.['application/json'] && !responses['304'])
      responses['304'] = { description: 'Not modified: If-None-Match holds the current ETag' };
  }
  // Every request's strings are checked before routing (common/text-guard.middleware.ts): any
  // operation can answer 400 INVALID_TEXT.
  const invalidText = `INVALID_TEXT: ${HTTP_ERRORS.INVALID_TEXT.meaning}`;
  for (const item of Object.values(document.paths))
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      if (!operation) continue;
      const existing = operation.responses['400'] as { description?: string } | undefined;
      operation.responses['400'] = existing
        ? { ...existing, description: `${existing.description ?? ''}; ${invalidText}` }
        : {
            description: invalidText,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ProblemBody' } } },
          };
    }
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...contractComponents() },
  };
  return document;
}
