-- CreateEnum
CREATE TYPE "AgentStatus" AS ENUM ('online', 'draining', 'offline');

-- CreateEnum
CREATE TYPE "DeviceState" AS ENUM ('idle', 'busy', 'offline', 'quarantined');

-- CreateEnum
CREATE TYPE "FirmwareKind" AS ENUM ('merged', 'parts', 'idf_bundle');

-- CreateEnum
CREATE TYPE "PartRole" AS ENUM ('bootloader', 'partition_table', 'app', 'ota_data', 'data', 'merged');

-- CreateEnum
CREATE TYPE "TargetKind" AS ENUM ('device', 'selector', 'all');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "LogLevel" AS ENUM ('debug', 'info', 'warn', 'error');

-- CreateEnum
CREATE TYPE "TokenRole" AS ENUM ('admin', 'ci', 'operator', 'viewer', 'agent');

-- CreateTable
CREATE TABLE "Agent" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "status" "AgentStatus" NOT NULL DEFAULT 'online',
    "maxParallel" INTEGER NOT NULL DEFAULT 8,
    "lastHeartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Agent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Device" (
    "id" UUID NOT NULL,
    "mac" TEXT NOT NULL,
    "chip" TEXT NOT NULL,
    "chipRevision" INTEGER,
    "chipDescription" TEXT,
    "features" TEXT[],
    "crystalMhz" INTEGER,
    "flashJedecId" INTEGER,
    "flashSizeBytes" INTEGER,
    "pool" TEXT,
    "tags" TEXT[],
    "label" TEXT,
    "notes" TEXT,
    "state" "DeviceState" NOT NULL DEFAULT 'idle',
    "quarantineReason" TEXT,
    "quarantinedAt" TIMESTAMP(3),
    "resetSequence" TEXT,
    "bestBaud" INTEGER,
    "consecutiveFailures" INTEGER NOT NULL DEFAULT 0,
    "currentRunId" UUID,
    "lastRunStatus" "RunStatus",
    "lastRunAt" TIMESTAMP(3),
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Device_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Attachment" (
    "id" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "portPath" TEXT NOT NULL,
    "usbVid" INTEGER,
    "usbPid" INTEGER,
    "usbSerial" TEXT,
    "location" TEXT,
    "bridge" TEXT,
    "firstSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "detachedAt" TIMESTAMP(3),

    CONSTRAINT "Attachment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Firmware" (
    "id" UUID NOT NULL,
    "sha256" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT,
    "projectName" TEXT,
    "idfVersion" TEXT,
    "chip" TEXT NOT NULL,
    "kind" "FirmwareKind" NOT NULL,
    "flashMode" TEXT,
    "flashSize" TEXT,
    "flashFreq" TEXT,
    "totalBytes" INTEGER NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "createdBy" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Firmware_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FirmwarePart" (
    "id" UUID NOT NULL,
    "firmwareId" UUID NOT NULL,
    "offset" INTEGER NOT NULL,
    "size" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "md5" TEXT NOT NULL,
    "role" "PartRole" NOT NULL,
    "fileName" TEXT NOT NULL,

    CONSTRAINT "FirmwarePart_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" UUID NOT NULL,
    "firmwareId" UUID NOT NULL,
    "targetKind" "TargetKind" NOT NULL,
    "targetDeviceId" UUID,
    "selector" JSONB NOT NULL DEFAULT '{}',
    "count" INTEGER NOT NULL DEFAULT 1,
    "options" JSONB NOT NULL DEFAULT '{}',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "status" "JobStatus" NOT NULL DEFAULT 'queued',
    "requestedBy" TEXT NOT NULL,
    "idempotencyKey" TEXT,
    "cancelReason" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Run" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "slot" INTEGER NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "deviceId" UUID,
    "agentId" UUID,
    "portPath" TEXT,
    "status" "RunStatus" NOT NULL DEFAULT 'queued',
    "stage" TEXT,
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "baud" INTEGER,
    "retries" INTEGER NOT NULL DEFAULT 0,
    "bytesWritten" INTEGER NOT NULL DEFAULT 0,
    "bytesSkipped" INTEGER NOT NULL DEFAULT 0,
    "regions" JSONB NOT NULL DEFAULT '[]',
    "timings" JSONB NOT NULL DEFAULT '{}',
    "lastLogSeq" INTEGER NOT NULL DEFAULT 0,
    "queuedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dispatchedAt" TIMESTAMP(3),
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RunLogLine" (
    "id" BIGSERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "ts" TIMESTAMP(3) NOT NULL,
    "level" "LogLevel" NOT NULL,
    "stage" TEXT,
    "text" TEXT NOT NULL,

    CONSTRAINT "RunLogLine_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "TokenRole" NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "createdBy" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Agent_name_key" ON "Agent"("name");

-- CreateIndex
CREATE INDEX "Agent_status_lastHeartbeatAt_idx" ON "Agent"("status", "lastHeartbeatAt");

-- CreateIndex
CREATE UNIQUE INDEX "Device_mac_key" ON "Device"("mac");

-- CreateIndex
CREATE UNIQUE INDEX "Device_currentRunId_key" ON "Device"("currentRunId");

-- CreateIndex
CREATE INDEX "Device_state_chip_idx" ON "Device"("state", "chip");

-- CreateIndex
CREATE INDEX "Device_pool_state_idx" ON "Device"("pool", "state");

-- CreateIndex
CREATE INDEX "Device_tags_idx" ON "Device" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "Device_lastRunAt_idx" ON "Device"("lastRunAt");

-- CreateIndex
CREATE INDEX "Attachment_deviceId_lastSeenAt_idx" ON "Attachment"("deviceId", "lastSeenAt" DESC);

-- CreateIndex
CREATE INDEX "Attachment_agentId_detachedAt_idx" ON "Attachment"("agentId", "detachedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Firmware_sha256_key" ON "Firmware"("sha256");

-- CreateIndex
CREATE INDEX "Firmware_chip_createdAt_idx" ON "Firmware"("chip", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Firmware_createdAt_idx" ON "Firmware"("createdAt" DESC);

-- CreateIndex
CREATE INDEX "FirmwarePart_sha256_idx" ON "FirmwarePart"("sha256");

-- CreateIndex
CREATE UNIQUE INDEX "FirmwarePart_firmwareId_offset_key" ON "FirmwarePart"("firmwareId", "offset");

-- CreateIndex
CREATE UNIQUE INDEX "Job_idempotencyKey_key" ON "Job"("idempotencyKey");

-- CreateIndex
CREATE INDEX "Job_status_priority_createdAt_idx" ON "Job"("status", "priority" DESC, "createdAt");

-- CreateIndex
CREATE INDEX "Job_createdAt_idx" ON "Job"("createdAt" DESC);

-- CreateIndex
CREATE INDEX "Job_firmwareId_idx" ON "Job"("firmwareId");

-- CreateIndex
CREATE INDEX "Run_status_queuedAt_idx" ON "Run"("status", "queuedAt");

-- CreateIndex
CREATE INDEX "Run_deviceId_queuedAt_idx" ON "Run"("deviceId", "queuedAt" DESC);

-- CreateIndex
CREATE INDEX "Run_agentId_status_idx" ON "Run"("agentId", "status");

-- CreateIndex
CREATE INDEX "Run_errorCode_idx" ON "Run"("errorCode");

-- CreateIndex
CREATE UNIQUE INDEX "Run_jobId_slot_attempt_key" ON "Run"("jobId", "slot", "attempt");

-- CreateIndex
CREATE UNIQUE INDEX "RunLogLine_runId_seq_key" ON "RunLogLine"("runId", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "ApiToken_role_idx" ON "ApiToken"("role");

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FirmwarePart" ADD CONSTRAINT "FirmwarePart_firmwareId_fkey" FOREIGN KEY ("firmwareId") REFERENCES "Firmware"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_firmwareId_fkey" FOREIGN KEY ("firmwareId") REFERENCES "Firmware"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_targetDeviceId_fkey" FOREIGN KEY ("targetDeviceId") REFERENCES "Device"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RunLogLine" ADD CONSTRAINT "RunLogLine_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
