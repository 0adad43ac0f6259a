import { describe, expect, it } from '@jest/globals';
import { ApiErrorCode, HTTP_ERRORS, ProblemBody, codeOfHttpStatus, httpStatusOf } from './http-errors.js';

describe('HTTP error codes', () => {
  it('give every code one error status', () => {
    for (const code of Object.keys(HTTP_ERRORS) as ApiErrorCode[]) {
      expect(ApiErrorCode[code]).toBe(code);
      expect(httpStatusOf(code)).toBeGreaterThanOrEqual(400);
      expect(httpStatusOf(code)).toBeLessThan(600);
    }
    expect(httpStatusOf('CAMPAIGN_STATE')).toBe(409);
    expect(httpStatusOf('CHIP_MISMATCH')).toBe(422);
  });

  it('name a code of the table for statuses the framework answers with', () => {
    expect(codeOfHttpStatus(404)).toBe('NOT_FOUND');
    expect(codeOfHttpStatus(415)).toBe('VALIDATION_FAILED');
    expect(codeOfHttpStatus(502)).toBe('INTERNAL');
    for (const status of [400, 401, 403, 404, 409, 413, 503])
      expect(httpStatusOf(codeOfHttpStatus(status))).toBe(status);
  });

  it('let a problem body carry only codes of the table', () => {
    expect(
      ProblemBody.safeParse({ statusCode: 409, code: 'CAMPAIGN_STATE', message: 'stopped' }).success,
    ).toBe(true);
    expect(ProblemBody.safeParse({ statusCode: 400, code: 'HTTP_400', message: 'x' }).success).toBe(false);
  });
});
