-- Up Migration
-- Functions whose results are not deterministic (time, randomness) opt out of the result cache.
ALTER TABLE meta.functions ADD COLUMN cacheable boolean NOT NULL DEFAULT true;

-- Down Migration
ALTER TABLE meta.functions DROP COLUMN cacheable;
