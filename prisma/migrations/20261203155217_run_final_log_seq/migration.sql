-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "finalLogSeq" INTEGER;
