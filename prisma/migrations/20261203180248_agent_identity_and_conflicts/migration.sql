-- AlterEnum
ALTER TYPE "AgentStatus" ADD VALUE 'queue_unreachable';

-- AlterEnum
ALTER TYPE "DeviceState" ADD VALUE 'conflict';

-- AlterTable
ALTER TABLE "Agent" ADD COLUMN     "statusReason" TEXT;

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "agentName" TEXT;

-- AlterTable
ALTER TABLE "Attachment" ADD COLUMN     "refusedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Device" ADD COLUMN     "conflictReason" TEXT,
ADD COLUMN     "conflictSince" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "FarmEvent" (
    "id" UUID NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "agentId" UUID,
    "deviceId" UUID,
    "mac" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "FarmEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "FarmEvent_at_idx" ON "FarmEvent"("at" DESC);

-- CreateIndex
CREATE INDEX "FarmEvent_deviceId_at_idx" ON "FarmEvent"("deviceId", "at" DESC);

-- CreateIndex
CREATE INDEX "FarmEvent_agentId_at_idx" ON "FarmEvent"("agentId", "at" DESC);

-- CreateIndex
CREATE INDEX "FarmEvent_type_at_idx" ON "FarmEvent"("type", "at" DESC);

-- CreateIndex
CREATE INDEX "ApiToken_agentName_idx" ON "ApiToken"("agentName");
