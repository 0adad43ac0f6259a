import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG } from '../infra/tokens.js';
import { FirmwareController } from './firmware.controller.js';
import { FirmwareService } from './firmware.service.js';
import { UploadLimitInterceptor } from './upload-limit.interceptor.js';

/** Most files in one upload: a set of parts is a handful; the cap stops a form with thousands. */
const MAX_FILES_PER_UPLOAD = 64;

/** Firmware intake and the content-addressed store. */
@Module({
  imports: [
    MulterModule.registerAsync({
      inject: [API_CONFIG],
      useFactory: (config: ApiConfig) => ({
        // Byte for byte: the controller checks the text as UTF-8 and decodes it (formText), instead
        // of the parser replacing bytes that are not UTF-8 with U+FFFD unseen.
        defCharset: 'latin1',
        defParamCharset: 'latin1',
        limits: {
          fileSize: config.maxUploadBytes,
          files: MAX_FILES_PER_UPLOAD,
          fields: 20,
          fieldSize: 1024 * 1024,
        },
      }),
    }),
  ],
  controllers: [FirmwareController],
  providers: [FirmwareService, UploadLimitInterceptor],
  exports: [FirmwareService],
})
export class FirmwareModule {}
