-- Up Migration
-- A registered Node.js function's npm packages (`{"lodash": "4.17.21"}`): its sessions are bundled
-- with them (src/runtimes/nodejs/bundle/). NULL: none.
ALTER TABLE meta.functions ADD COLUMN dependencies jsonb;

-- Down Migration
ALTER TABLE meta.functions DROP COLUMN dependencies;
