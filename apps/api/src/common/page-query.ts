/** limit/offset query parameters shared by the paginated list routes. */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** The query class of a paginated route whose pages hold at most `maxLimit` items (extend it). */
export function PageQueryOf(maxLimit: number) {
  class PageQueryBase {
    @ApiPropertyOptional({ minimum: 1, maximum: maxLimit, default: 50 })
    @IsOptional()
    @Type(() => Number)
    @IsInt({ message: 'limit must be a whole number' })
    @Min(1)
    @Max(maxLimit)
    limit?: number;

    @ApiPropertyOptional({ minimum: 0, default: 0 })
    @IsOptional()
    @Type(() => Number)
    @IsInt({ message: 'offset must be a whole number' })
    @Min(0)
    offset?: number;
  }
  return PageQueryBase;
}
