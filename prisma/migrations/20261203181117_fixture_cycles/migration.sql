-- DropIndex
DROP INDEX "CampaignUnit_campaignId_deviceId_key";

-- AlterTable
ALTER TABLE "CampaignUnit" ADD COLUMN     "agentId" UUID,
ADD COLUMN     "cycleKey" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "portPath" TEXT,
ADD COLUMN     "retest" BOOLEAN NOT NULL DEFAULT false,
ALTER COLUMN "deviceId" DROP NOT NULL,
ALTER COLUMN "mac" DROP NOT NULL;

-- Units made before fixture cycles were one per (campaign, board): that is their key.
UPDATE "CampaignUnit" SET "cycleKey" = 'device:' || "deviceId";
ALTER TABLE "CampaignUnit" ALTER COLUMN "cycleKey" DROP DEFAULT;

-- CreateTable
CREATE TABLE "FixtureFailure" (
    "id" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "portPath" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FixtureFailure_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "FixtureFailure_at_idx" ON "FixtureFailure"("at");

-- CreateIndex
CREATE INDEX "CampaignUnit_campaignId_deviceId_idx" ON "CampaignUnit"("campaignId", "deviceId");

-- CreateIndex
CREATE UNIQUE INDEX "CampaignUnit_campaignId_cycleKey_key" ON "CampaignUnit"("campaignId", "cycleKey");
