/**
 * Where a run's per-unit regions (a campaign unit's own NVS partition) come from. The scheduler builds
 * every run payload but sits before campaigns in the run pipeline (events → runs → scheduler → jobs →
 * campaigns), so it may not import them: campaigns hand it their builder at start instead.
 */
import { Injectable } from '@nestjs/common';
import type { UnitRegionRef } from '#contracts';

/** The unit's regions, nothing (not a campaign unit, or no per-unit data), or why they cannot be made. */
export type UnitRegionsOutcome = { regions: UnitRegionRef[] } | { problem: string } | undefined;

/** What the builder is told of the run being dispatched. */
export interface UnitRunFacts {
  jobId: string;
  mac: string;
  firmwareMetadata: unknown;
}

/** Builds the per-unit regions of one run. */
export type UnitRegionsBuilder = (run: UnitRunFacts) => Promise<UnitRegionsOutcome>;

/** The builder campaigns registered; without one (no campaigns module), runs carry no unit regions. */
@Injectable()
export class UnitRegionsSource {
  private builder: UnitRegionsBuilder | undefined;

  /** Registers the builder (once, by the campaigns module at start). */
  use(builder: UnitRegionsBuilder): void {
    this.builder = builder;
  }

  /** The run's per-unit regions, if a builder is registered and the run is a unit's. */
  regionsFor(run: UnitRunFacts): Promise<UnitRegionsOutcome> {
    return this.builder ? this.builder(run) : Promise.resolve(undefined);
  }
}
