/**
 * Per-unit regions of a run (a campaign unit's NVS partition) arrive inline in the payload. Their
 * bytes are written only when they are exactly what the api made: the size and SHA-256 it sent.
 */
import { createHash } from 'node:crypto';
import type { UnitRegionRef } from '#contracts';

/** The bytes of a per-unit region, or why they cannot be written (nothing in the message but digests and sizes). */
export function decodeUnitRegion(region: UnitRegionRef): { data: Uint8Array } | { problem: string } {
  const data = new Uint8Array(Buffer.from(region.dataBase64, 'base64'));
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (data.length === region.size && sha256 === region.sha256) return { data };
  return {
    problem: `the per-unit ${region.role} region at 0x${region.offset.toString(16)} arrived damaged (${data.length} of ${region.size} bytes, SHA-256 ${sha256.slice(0, 12)} instead of ${region.sha256.slice(0, 12)})`,
  };
}
