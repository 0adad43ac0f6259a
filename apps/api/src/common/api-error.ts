import { ApiErrorCode } from '#contracts';

/** A domain error the exception filter turns into an HTTP problem body. Services throw these, never HttpExceptions. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Array<{ field: string; message: string }>,
  ) {
    super(message);
  }

  /** 404 for a missing entity, naming what was looked up. */
  static notFound(what: string, key: string): ApiError {
    return new ApiError(404, ApiErrorCode.NOT_FOUND, `${what} ${key} does not exist`);
  }

  /** 400 with field-level details. */
  static validation(message: string, details?: Array<{ field: string; message: string }>): ApiError {
    return new ApiError(400, ApiErrorCode.VALIDATION_FAILED, message, details);
  }
}
