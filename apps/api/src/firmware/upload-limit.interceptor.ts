import {
  Inject,
  Injectable,
  PayloadTooLargeException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, type Observable } from 'rxjs';
import { ApiErrorCode } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';

/** Rewords multer's "File too large" into a 413 that names the limit and the variable that sets it. */
@Injectable()
export class UploadLimitInterceptor implements NestInterceptor {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (error instanceof PayloadTooLargeException)
          throw new ApiError(
            413,
            ApiErrorCode.PAYLOAD_TOO_LARGE,
            `The upload exceeds the ${(this.config.maxUploadBytes / 1048576).toFixed(1)} MiB limit per file (FLASHFARM_MAX_UPLOAD_MB); nothing was stored.`,
          );
        throw error;
      }),
    );
  }
}
