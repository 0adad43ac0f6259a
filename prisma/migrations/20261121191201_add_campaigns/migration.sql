-- CreateEnum
CREATE TYPE "CampaignMode" AS ENUM ('pool', 'station');

-- CreateEnum
CREATE TYPE "CampaignStatus" AS ENUM ('running', 'paused', 'stopped', 'completed');

-- CreateEnum
CREATE TYPE "CampaignUnitStatus" AS ENUM ('pending', 'flashing', 'succeeded', 'failed');

-- CreateTable
CREATE TABLE "Campaign" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "firmwareId" UUID NOT NULL,
    "mode" "CampaignMode" NOT NULL,
    "selector" JSONB NOT NULL DEFAULT '{}',
    "options" JSONB NOT NULL DEFAULT '{}',
    "status" "CampaignStatus" NOT NULL DEFAULT 'running',
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Campaign_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CampaignUnit" (
    "id" UUID NOT NULL,
    "campaignId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "mac" TEXT NOT NULL,
    "status" "CampaignUnitStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "jobId" UUID,
    "runId" UUID,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "record" JSONB NOT NULL DEFAULT '{}',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "CampaignUnit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Campaign_status_idx" ON "Campaign"("status");

-- CreateIndex
CREATE INDEX "Campaign_createdAt_idx" ON "Campaign"("createdAt" DESC);

-- CreateIndex
CREATE INDEX "CampaignUnit_campaignId_status_idx" ON "CampaignUnit"("campaignId", "status");

-- CreateIndex
CREATE INDEX "CampaignUnit_jobId_idx" ON "CampaignUnit"("jobId");

-- CreateIndex
CREATE UNIQUE INDEX "CampaignUnit_campaignId_deviceId_key" ON "CampaignUnit"("campaignId", "deviceId");

-- AddForeignKey
ALTER TABLE "CampaignUnit" ADD CONSTRAINT "CampaignUnit_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES "Campaign"("id") ON DELETE CASCADE ON UPDATE CASCADE;
