-- Idempotency keys become unique per scope (the token that sent them) instead of across the farm,
-- so one token can no longer read another token's job back by guessing or reusing its key.

-- DropIndex
DROP INDEX "Job_idempotencyKey_key";

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "idempotencyScope" TEXT;

-- Backfill keyed jobs: a campaign's jobs belong to the api ("internal:" plus who made the campaign);
-- a job whose requester name belongs to exactly one token goes to that token; any other keeps its
-- requester's name as an internal scope (no token can replay it, and no key collides with it).
UPDATE "Job" SET "idempotencyScope" = 'internal:' || "requestedBy"
WHERE "idempotencyKey" IS NOT NULL AND "idempotencyKey" LIKE 'campaign:%';

UPDATE "Job" AS j SET "idempotencyScope" = 'token:' || t."id"
FROM "ApiToken" AS t
WHERE j."idempotencyKey" IS NOT NULL AND j."idempotencyScope" IS NULL AND t."name" = j."requestedBy"
  AND (SELECT count(*) FROM "ApiToken" AS o WHERE o."name" = j."requestedBy") = 1;

UPDATE "Job" SET "idempotencyScope" = 'internal:' || "requestedBy"
WHERE "idempotencyKey" IS NOT NULL AND "idempotencyScope" IS NULL;

-- CreateIndex
CREATE UNIQUE INDEX "Job_idempotencyScope_idempotencyKey_key" ON "Job"("idempotencyScope", "idempotencyKey");
