-- AlterTable
ALTER TABLE "Campaign" ADD COLUMN     "unitData" JSONB NOT NULL DEFAULT '{}';

-- AlterTable
ALTER TABLE "CampaignUnit" ADD COLUMN     "serial" TEXT;

-- CreateTable
CREATE TABLE "SerialCounter" (
    "scope" TEXT NOT NULL,
    "last" INTEGER NOT NULL,

    CONSTRAINT "SerialCounter_pkey" PRIMARY KEY ("scope")
);

-- CreateTable
CREATE TABLE "SerialAllocation" (
    "id" UUID NOT NULL,
    "serial" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "campaignId" UUID NOT NULL,
    "unitId" UUID,
    "usedAt" TIMESTAMP(3),
    "voidedAt" TIMESTAMP(3),
    "voidReason" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SerialAllocation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SerialAllocation_serial_key" ON "SerialAllocation"("serial");

-- CreateIndex
CREATE INDEX "SerialAllocation_campaignId_idx" ON "SerialAllocation"("campaignId");
