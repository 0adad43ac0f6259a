-- CreateTable
CREATE TABLE "RunStat" (
    "grain" TEXT NOT NULL,
    "bucket" TIMESTAMP(3) NOT NULL,
    "deviceId" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "firmwareId" UUID NOT NULL,
    "chip" TEXT NOT NULL,
    "status" "RunStatus" NOT NULL,
    "errorCode" TEXT NOT NULL,
    "runs" INTEGER NOT NULL,
    "timedRuns" INTEGER NOT NULL,
    "durationMs" BIGINT NOT NULL,
    "maxDurationMs" INTEGER NOT NULL,
    "bytesWritten" BIGINT NOT NULL,

    CONSTRAINT "RunStat_pkey" PRIMARY KEY ("grain","bucket","deviceId","agentId","firmwareId","status","errorCode")
);

-- CreateIndex
CREATE INDEX "RunStat_grain_deviceId_bucket_idx" ON "RunStat"("grain", "deviceId", "bucket");

-- CreateIndex
CREATE INDEX "RunStat_grain_agentId_bucket_idx" ON "RunStat"("grain", "agentId", "bucket");

-- CreateIndex
CREATE INDEX "RunStat_grain_chip_bucket_idx" ON "RunStat"("grain", "chip", "bucket");

-- CreateIndex
CREATE INDEX "RunStat_grain_firmwareId_bucket_idx" ON "RunStat"("grain", "firmwareId", "bucket");

-- Counting ended runs into "RunStat". One function adds one ended run to its hour and its day; the
-- triggers call it when a run is stored already ended or moves into an ended status (an ended run
-- never moves again, see apps/api/src/state/run-state.ts), so each run is counted once.
CREATE FUNCTION ff_count_ended_run() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  fw_id UUID;
  fw_chip TEXT;
  took BIGINT := 0;
  timed INTEGER := 0;
BEGIN
  IF NEW."status" NOT IN ('succeeded', 'failed', 'cancelled') OR NEW."finishedAt" IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT j."firmwareId", f."chip" INTO fw_id, fw_chip
    FROM "Job" j JOIN "Firmware" f ON f."id" = j."firmwareId" WHERE j."id" = NEW."jobId";
  IF fw_id IS NULL THEN
    RETURN NULL;
  END IF;
  IF NEW."startedAt" IS NOT NULL THEN
    took := GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (NEW."finishedAt" - NEW."startedAt")) * 1000))::BIGINT;
    timed := 1;
  END IF;
  INSERT INTO "RunStat" AS s ("grain", "bucket", "deviceId", "agentId", "firmwareId", "chip", "status",
      "errorCode", "runs", "timedRuns", "durationMs", "maxDurationMs", "bytesWritten")
  SELECT g.grain, date_trunc(g.grain, NEW."finishedAt"),
      COALESCE(NEW."deviceId", '00000000-0000-0000-0000-000000000000'::UUID),
      COALESCE(NEW."agentId", '00000000-0000-0000-0000-000000000000'::UUID),
      fw_id, fw_chip, NEW."status", COALESCE(NEW."errorCode", ''), 1, timed, took, took, NEW."bytesWritten"
    FROM (VALUES ('hour'), ('day')) AS g(grain)
  ON CONFLICT ("grain", "bucket", "deviceId", "agentId", "firmwareId", "status", "errorCode") DO UPDATE SET
    "runs" = s."runs" + 1,
    "timedRuns" = s."timedRuns" + EXCLUDED."timedRuns",
    "durationMs" = s."durationMs" + EXCLUDED."durationMs",
    "maxDurationMs" = GREATEST(s."maxDurationMs", EXCLUDED."maxDurationMs"),
    "bytesWritten" = s."bytesWritten" + EXCLUDED."bytesWritten";
  RETURN NULL;
END
$$;

CREATE TRIGGER ff_run_stats_insert AFTER INSERT ON "Run"
  FOR EACH ROW EXECUTE FUNCTION ff_count_ended_run();
CREATE TRIGGER ff_run_stats_update AFTER UPDATE OF "status" ON "Run"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status"
    AND OLD."status" NOT IN ('succeeded', 'failed', 'cancelled'))
  EXECUTE FUNCTION ff_count_ended_run();

-- Recounts every ended run from scratch: for runs stored before this migration, and for bulk loads
-- that ran with the triggers off (the bench's seeded database).
CREATE FUNCTION ff_rebuild_run_stats() RETURNS void LANGUAGE sql AS $$
  DELETE FROM "RunStat";
  INSERT INTO "RunStat" ("grain", "bucket", "deviceId", "agentId", "firmwareId", "chip", "status",
      "errorCode", "runs", "timedRuns", "durationMs", "maxDurationMs", "bytesWritten")
  SELECT g.grain, date_trunc(g.grain, r."finishedAt"),
      COALESCE(r."deviceId", '00000000-0000-0000-0000-000000000000'::UUID),
      COALESCE(r."agentId", '00000000-0000-0000-0000-000000000000'::UUID),
      j."firmwareId", MIN(f."chip"), r."status", COALESCE(r."errorCode", ''),
      COUNT(*)::INTEGER, COUNT(r."startedAt")::INTEGER,
      COALESCE(SUM(GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (r."finishedAt" - r."startedAt")) * 1000))), 0)::BIGINT,
      COALESCE(MAX(GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (r."finishedAt" - r."startedAt")) * 1000))), 0)::INTEGER,
      SUM(r."bytesWritten")::BIGINT
    FROM "Run" r
    JOIN "Job" j ON j."id" = r."jobId"
    JOIN "Firmware" f ON f."id" = j."firmwareId"
    CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
    WHERE r."status" IN ('succeeded', 'failed', 'cancelled') AND r."finishedAt" IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 7, 8;
$$;

SELECT ff_rebuild_run_stats();

-- Farm changes for the dashboard's live stream (GET /events): each trigger sends "<kind>:<id>" on the
-- channel ff_farm, delivered when the transaction commits (never for a rolled-back change). Arguments
-- come in pairs: the kind, and the column of NEW holding that kind's id.
CREATE FUNCTION ff_notify_farm() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  row JSONB := to_jsonb(NEW);
  i INTEGER := 0;
BEGIN
  WHILE i < TG_NARGS LOOP
    IF row ->> TG_ARGV[i + 1] IS NOT NULL THEN
      PERFORM pg_notify('ff_farm', TG_ARGV[i] || ':' || (row ->> TG_ARGV[i + 1]));
    END IF;
    i := i + 2;
  END LOOP;
  RETURN NULL;
END
$$;

-- A board: any change but the "still here" timestamps an agent's report refreshes.
CREATE TRIGGER ff_farm_device_insert AFTER INSERT ON "Device"
  FOR EACH ROW EXECUTE FUNCTION ff_notify_farm('device', 'id');
CREATE TRIGGER ff_farm_device_update AFTER UPDATE ON "Device"
  FOR EACH ROW WHEN ((to_jsonb(OLD) - 'lastSeenAt' - 'updatedAt') IS DISTINCT FROM (to_jsonb(NEW) - 'lastSeenAt' - 'updatedAt'))
  EXECUTE FUNCTION ff_notify_farm('device', 'id');
-- Where a board is plugged in (its page and its agent's board count).
CREATE TRIGGER ff_farm_attachment_insert AFTER INSERT ON "Attachment"
  FOR EACH ROW EXECUTE FUNCTION ff_notify_farm('device', 'deviceId', 'agent', 'agentId');
CREATE TRIGGER ff_farm_attachment_update AFTER UPDATE ON "Attachment"
  FOR EACH ROW WHEN ((to_jsonb(OLD) - 'lastSeenAt') IS DISTINCT FROM (to_jsonb(NEW) - 'lastSeenAt'))
  EXECUTE FUNCTION ff_notify_farm('device', 'deviceId', 'agent', 'agentId');
-- An agent: registration, heartbeat, status.
CREATE TRIGGER ff_farm_agent AFTER INSERT OR UPDATE ON "Agent"
  FOR EACH ROW EXECUTE FUNCTION ff_notify_farm('agent', 'id');
-- A campaign's status, and its counters (each unit's status).
CREATE TRIGGER ff_farm_campaign AFTER INSERT OR UPDATE ON "Campaign"
  FOR EACH ROW EXECUTE FUNCTION ff_notify_farm('campaign', 'id');
CREATE TRIGGER ff_farm_campaign_unit_insert AFTER INSERT ON "CampaignUnit"
  FOR EACH ROW EXECUTE FUNCTION ff_notify_farm('campaign', 'campaignId');
CREATE TRIGGER ff_farm_campaign_unit_update AFTER UPDATE OF "status" ON "CampaignUnit"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status")
  EXECUTE FUNCTION ff_notify_farm('campaign', 'campaignId');
