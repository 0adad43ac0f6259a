-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "bootCheck" JSONB;

-- AlterTable
ALTER TABLE "Campaign" ADD COLUMN     "stationOperator" TEXT;

-- AlterTable
ALTER TABLE "CampaignUnit" ADD COLUMN     "csvRow" INTEGER,
ADD COLUMN     "csvRowId" UUID,
ADD COLUMN     "dataSha256" TEXT,
ADD COLUMN     "operatorName" TEXT;

-- CreateTable
CREATE TABLE "CampaignCsvRow" (
    "id" UUID NOT NULL,
    "campaignId" UUID NOT NULL,
    "rowNumber" INTEGER NOT NULL,
    "mac" TEXT,
    "values" JSONB NOT NULL,
    "assignedMac" TEXT,
    "unitId" UUID,
    "takenAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CampaignCsvRow_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "CampaignCsvRow_campaignId_takenAt_rowNumber_idx" ON "CampaignCsvRow"("campaignId", "takenAt", "rowNumber");

-- CreateIndex
CREATE INDEX "CampaignCsvRow_campaignId_assignedMac_idx" ON "CampaignCsvRow"("campaignId", "assignedMac");

-- CreateIndex
CREATE UNIQUE INDEX "CampaignCsvRow_campaignId_rowNumber_key" ON "CampaignCsvRow"("campaignId", "rowNumber");

-- CreateIndex
CREATE UNIQUE INDEX "CampaignCsvRow_campaignId_mac_key" ON "CampaignCsvRow"("campaignId", "mac");
