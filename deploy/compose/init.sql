-- The compose quick start's PostgreSQL: the gateways' shared store is the `gatehouse` database (created by the image);
-- `crm` is the demo upstream the agents reach through the gateway (seeded by the upstreams service).
CREATE DATABASE crm;
