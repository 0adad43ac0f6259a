import { ApiErrorCode, httpStatusOf, type ProblemDetail } from '#contracts';

/**
 * The one error the api's services throw for a request that cannot be served: a code from the
 * contracts' HTTP_ERRORS table and a message saying what was wrong and what to do. The exception
 * filter, and only it, turns the code into an HTTP status and a problem body.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: ProblemDetail[],
  ) {
    super(message);
  }

  /** The HTTP status the code stands for (HTTP_ERRORS). */
  get status(): number {
    return httpStatusOf(this.code);
  }

  /** A missing entity, naming what was looked up. */
  static notFound(what: string, key: string): ApiError {
    return new ApiError(ApiErrorCode.NOT_FOUND, `${what} ${key} does not exist`);
  }

  /** A malformed request, with field-level details. */
  static validation(message: string, details?: ProblemDetail[]): ApiError {
    return new ApiError(ApiErrorCode.VALIDATION_FAILED, message, details);
  }
}
