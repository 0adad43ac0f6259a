import {
  BadRequestException,
  Inject,
  Injectable,
  PayloadTooLargeException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Request } from 'express';
import { catchError, type Observable } from 'rxjs';
import { ApiErrorCode } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';

/** Room for multipart boundaries and text fields on top of the file bytes. */
const FORM_OVERHEAD_BYTES = 1024 * 1024;

/**
 * Refuses an upload whose Content-Length already exceeds the limit before a
 * byte is buffered, and rewords multer's "File too large" into a 413 that
 * names the limit and the variable that sets it; says what a part header
 * multer could not parse means.
 */
@Injectable()
export class UploadLimitInterceptor implements NestInterceptor {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<Request>();
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.config.maxUploadBytes + FORM_OVERHEAD_BYTES)
      throw this.tooLarge();
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (error instanceof PayloadTooLargeException) throw this.tooLarge();
        // busboy's words for a part header it cannot parse, e.g. a file name holding a NUL byte.
        if (error instanceof BadRequestException && /malformed part header/i.test(error.message))
          throw ApiError.validation(
            'The multipart form is malformed: a part header does not parse. Part headers cannot hold control characters such as NUL; send field and file names as UTF-8 text.',
          );
        throw error;
      }),
    );
  }

  private tooLarge(): ApiError {
    return new ApiError(
      ApiErrorCode.PAYLOAD_TOO_LARGE,
      `The upload exceeds the ${(this.config.maxUploadBytes / 1048576).toFixed(1)} MiB limit (FLASHFARM_MAX_UPLOAD_MB); nothing was stored.`,
    );
  }
}
