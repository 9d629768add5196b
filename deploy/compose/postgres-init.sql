-- Run once, by the postgres image's entrypoint, when the data volume is
-- first initialised (compose.yaml mounts it into /docker-entrypoint-initdb.d):
-- the bank example's two account services each own one database.
CREATE DATABASE bank_a;
CREATE DATABASE bank_b;
