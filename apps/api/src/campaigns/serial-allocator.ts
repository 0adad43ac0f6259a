/**
 * Serial numbers for campaign units. One counter per scope (the pattern with its date fields
 * filled in) is bumped by a single `INSERT … ON CONFLICT DO UPDATE … RETURNING`: PostgreSQL takes
 * the row lock for the update, so replicas allocating at once each get their own number without a
 * lock of ours, and the counter never goes back. Every number handed out is recorded
 * (SerialAllocation, unique serial); one that ends on no good unit is marked void with the reason,
 * never handed out again.
 */
import { Inject, Injectable } from '@nestjs/common';
import { formatSerial, parseSerialPattern, serialScope, UnitDataError, type SerialPattern } from '#esp';
import { ApiError } from '../common/api-error.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';

/** A serial number handed out. */
export interface SerialGrant {
  id: string;
  serial: string;
  seq: number;
}

/** Checks a serial pattern (and time zone) once, up front; throws a validation ApiError naming the problem. */
export function checkSerialRecipe(pattern: string, timeZone?: string): SerialPattern {
  try {
    const parsed = parseSerialPattern(pattern);
    serialScope(parsed, { timeZone }); // a bad time zone throws here, not at the first unit
    return parsed;
  } catch (error) {
    if (error instanceof UnitDataError || error instanceof RangeError)
      throw ApiError.validation(`unitData: ${error.message}`, [
        { field: 'unitData.serialPattern', message: error.message },
      ]);
    throw error;
  }
}

@Injectable()
export class SerialAllocator {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** Hands out the next serial of a pattern for a campaign (and unit); never the same twice. */
  async allocate(
    campaignId: string,
    recipe: { serialPattern: string; timeZone?: string },
    unitId?: string,
    date = new Date(),
  ): Promise<SerialGrant> {
    const pattern = checkSerialRecipe(recipe.serialPattern, recipe.timeZone);
    const options = { date, timeZone: recipe.timeZone };
    const scope = serialScope(pattern, options);
    const [row] = await this.prisma.$queryRaw<Array<{ last: number }>>`
      INSERT INTO "SerialCounter" ("scope", "last") VALUES (${scope}, 1)
      ON CONFLICT ("scope") DO UPDATE SET "last" = "SerialCounter"."last" + 1
      RETURNING "last"`;
    const seq = Number(row.last);
    let serial: string;
    try {
      serial = formatSerial(pattern, seq, options);
    } catch (error) {
      if (error instanceof UnitDataError) throw ApiError.validation(error.message);
      throw error;
    }
    const grant = await this.prisma.serialAllocation.create({
      data: { serial, scope, seq, campaignId, unitId: unitId ?? null },
      select: { id: true, serial: true, seq: true },
    });
    return grant;
  }

  /** The serial went onto a unit that passed. */
  async markUsed(serial: string): Promise<void> {
    await this.prisma.serialAllocation.updateMany({
      where: { serial, usedAt: null, voidedAt: null },
      data: { usedAt: new Date() },
    });
  }

  /** The serial ends on no good unit: recorded as void with the reason, and never handed out again. */
  async markVoid(serial: string, reason: string): Promise<void> {
    await this.prisma.serialAllocation.updateMany({
      where: { serial, usedAt: null, voidedAt: null },
      data: { voidedAt: new Date(), voidReason: reason.slice(0, 500) },
    });
  }
}
