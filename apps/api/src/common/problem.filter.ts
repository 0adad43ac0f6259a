import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { ApiErrorCode, HTTP_ERRORS, codeOfHttpStatus, httpStatusOf, type ProblemBody } from '#contracts';
import { ApiError } from './api-error.js';

/**
 * The one place where errors become HTTP answers: every failure gets a status, a stable code and
 * a readable message. The status of an ApiError is its code's, from HTTP_ERRORS in the contracts;
 * errors the HTTP framework raises itself (unknown route, unreadable JSON) keep their status.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toProblem(exception);
    if (body.statusCode >= 500)
      this.logger.error(
        exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
      );
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }

  private toProblem(exception: unknown): ProblemBody {
    if (exception instanceof ApiError) {
      return {
        statusCode: httpStatusOf(exception.code),
        code: exception.code,
        message: exception.message,
        details: exception.details,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const raw = exception.getResponse();
      const payload = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
      const messages = Array.isArray(payload.message) ? payload.message.map(String) : undefined;
      const message =
        messages?.join('; ') ?? (typeof payload.message === 'string' ? payload.message : exception.message);
      const code =
        typeof payload.code === 'string' && payload.code in HTTP_ERRORS
          ? (payload.code as ApiErrorCode)
          : codeOfHttpStatus(status);
      return { statusCode: status, code, message };
    }
    return {
      statusCode: 500,
      code: ApiErrorCode.INTERNAL,
      message: 'Internal error; the api log has the details.',
    };
  }
}
