import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { ALL_ROLES, type Role } from './roles.js';

/** Body of POST /tokens. */
export class CreateTokenDto {
  @ApiProperty({ description: 'Who or what uses the token', example: 'ci-main', maxLength: 100 })
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._@:-]*$/, {
    message: 'name must start with a letter or digit and use only letters, digits and . _ @ : -',
  })
  @MaxLength(100)
  name!: string;

  @ApiProperty({
    enum: ALL_ROLES,
    description: 'admin: everything; ci/operator: upload and flash; viewer: read; agent: the agent api',
  })
  @IsIn(ALL_ROLES, { message: `role must be one of: ${ALL_ROLES.join(', ')}` })
  role!: Role;

  @ApiPropertyOptional({ description: 'Expiry as an ISO 8601 date-time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  expiresAt?: string;

  @ApiPropertyOptional({
    description: 'Expiry in days from now (alternative to expiresAt)',
    minimum: 1,
    maximum: 3650,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3650)
  expiresInDays?: number;
}

/** A token as listed. */
export class TokenViewDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ALL_ROLES }) role!: string;
  @ApiProperty({ description: 'First characters of the secret, to tell tokens apart', example: 'ff_Q3k9xZ' })
  prefix!: string;
  @ApiProperty({ nullable: true, type: String }) createdBy!: string | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) lastUsedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) expiresAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) revokedAt!: Date | null;
}

/** Answer to POST /tokens: the only time the secret is shown. */
export class CreatedTokenDto extends TokenViewDto {
  @ApiProperty({ description: 'The bearer secret; store it now, it cannot be shown again', example: 'ff_…' })
  secret!: string;
}
