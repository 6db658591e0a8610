-- 0001: properties, the durable event log, the relay's cursor, idempotency keys.
--
-- Names are unqualified: every object lands in the first schema of the
-- connection's search_path (tests use one schema each). gen_random_uuid() is
-- core since PostgreSQL 13. Times are unix microseconds in bigint columns,
-- computed by the store's statements, so they round-trip to the int64 fields
-- of the protos exactly.

CREATE TABLE properties (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	owner_id      text NOT NULL CHECK (octet_length(owner_id) <= 64),
	title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	description   text NOT NULL DEFAULT '' CHECK (octet_length(description) <= 10000),
	address       text NOT NULL DEFAULT '' CHECK (char_length(address) <= 300),
	city          text NOT NULL CHECK (char_length(city) BETWEEN 1 AND 100),
	country_code  text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
	latitude      double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
	longitude     double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
	price_cents   bigint NOT NULL CHECK (price_cents >= 0),
	currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	bedrooms      integer NOT NULL CHECK (bedrooms BETWEEN 0 AND 1000),
	status        smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
	version       bigint NOT NULL CHECK (version >= 1),
	created_at_us bigint NOT NULL,
	updated_at_us bigint NOT NULL
);

-- ListPropertiesByOwner: equality on owner, then the keyset
-- (created_at_us, id) < (cursor) walked in index order, no sort.
CREATE INDEX properties_owner_created_idx ON properties (owner_id, created_at_us DESC, id DESC);

-- SearchProperties by city (case-insensitive exact match): rows of one city
-- come out already in the (price_cents, id) keyset order.
CREATE INDEX properties_city_price_idx ON properties (lower(city), price_cents, id);

-- SearchProperties by country: the same shape as the city index.
CREATE INDEX properties_country_price_idx ON properties (country_code, price_cents, id);

-- SearchProperties by min_bedrooms when few rows qualify (large homes); for a
-- low minimum the planner prefers walking properties_price_idx with a filter.
CREATE INDEX properties_bedrooms_price_idx ON properties (bedrooms, price_cents, id);

-- SearchProperties by bounding box: a GiST index on the point (x = longitude,
-- y = latitude) answers `point(longitude, latitude) <@ box(...)` without PostGIS.
CREATE INDEX properties_location_gist_idx ON properties USING gist (point(longitude, latitude));

-- SearchProperties without a selective filter: the keyset order itself.
CREATE INDEX properties_price_idx ON properties (price_cents, id);

-- The durable event log (the outbox). Writers insert rows with seq NULL in the
-- same transaction as their change; the relay leader assigns seq (1, 2, 3 ...,
-- gap-free) in one transaction serialized on relay_state. ins_id only
-- identifies a row: bigserial values are taken at insert, not at commit, so
-- their order is never trusted for publication.
-- The property snapshot columns have the names of the properties columns
-- (aggregate_id is the property's id), so one row mapper serves both tables.
CREATE TABLE event_log (
	ins_id         bigserial PRIMARY KEY,
	seq            bigint UNIQUE,
	id             uuid NOT NULL DEFAULT gen_random_uuid(),
	type           text NOT NULL,
	aggregate_id   uuid NOT NULL,
	owner_id       text NOT NULL,
	occurred_at_us bigint NOT NULL,
	title          text NOT NULL,
	description    text NOT NULL,
	address        text NOT NULL,
	city           text NOT NULL,
	country_code   text NOT NULL,
	latitude       double precision NOT NULL,
	longitude      double precision NOT NULL,
	price_cents    bigint NOT NULL,
	currency       text NOT NULL,
	bedrooms       integer NOT NULL,
	status         smallint NOT NULL,
	version        bigint NOT NULL,
	created_at_us  bigint NOT NULL,
	updated_at_us  bigint NOT NULL
);
-- (The UNIQUE constraint on seq is the index ReadEvents and pruning walk.)

-- The relay's scan for rows still waiting for a seq: small, since rows leave
-- it as soon as they are claimed.
CREATE INDEX event_log_unpublished_idx ON event_log (ins_id) WHERE seq IS NULL;

-- The newest assigned seq; its single row serializes claims.
CREATE TABLE relay_state (
	id       integer PRIMARY KEY CHECK (id = 1),
	last_seq bigint NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO relay_state (id, last_seq) VALUES (1, 0);

-- CreateProperty idempotency: one row per (owner, key); a key older than 24 h
-- may be reused (the create statement overwrites it).
CREATE TABLE idempotency_keys (
	owner_id      text NOT NULL,
	key           text NOT NULL,
	request_hash  text NOT NULL,
	property_id   uuid NOT NULL,
	created_at_us bigint NOT NULL,
	PRIMARY KEY (owner_id, key)
);

-- Pruning expired keys in bounded batches, oldest first.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at_us);
