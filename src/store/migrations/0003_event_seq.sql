-- 0003: seqs live in a narrow table of their own instead of the wide event_log row.
--
-- Claiming used to UPDATE every claimed event_log row to set its seq: a new
-- copy of the whole snapshot row plus entries in every index, for each event.
-- Now the claim inserts one (seq, ins_id) pair per event into event_seq and
-- never touches event_log; a row is unclaimed while it has no pair.
--
-- Finding unclaimed rows cheaply: relay_state.floor_ins is an ins_id at or
-- below which every row is either claimed or will never be visible (its
-- writer aborted, or the id was never handed out). The claim looks only
-- above it (an anti-join of event_log and event_seq over a short ins_id
-- range). The floor moves up in two ways, both in the claim statement:
--   * over a run of consecutive ins_ids that are all claimed (the usual case);
--   * over gaps (ids whose row is missing) once the gap is known to be dead:
--     the claim reads the sequence's last value H, a later claim records its
--     own transaction id X (assigned after H was read), and once every
--     transaction older than X has ended (the snapshot's xmin passed X) any
--     id <= H without a visible row is dead. The hz_* columns hold H and X.
-- This needs every writer to hold a transaction id before it takes an ins_id
-- (else a writer could take an id <= H and get an xid after X); the default
-- of ins_id below asks for the xid first. A sequence cache above 1 would let
-- a session hand out ids it reserved long ago: the cache stays at 1.
--
-- event_log.seq is kept for the rows claimed before this migration (their
-- pairs are copied into event_seq, which is what every reader uses now). No
-- statement sets it any more: the CHECK (not validated against old rows)
-- makes a claim by an older binary fail instead of publishing rows twice.
-- Its unique index and the partial index of unclaimed rows go, so writers
-- maintain two fewer index entries per event.

-- Writers and a claiming older relay finish first; no one takes an ins_id
-- until this commits, so the floor computed below is exact.
LOCK TABLE event_log IN ACCESS EXCLUSIVE MODE;
LOCK TABLE relay_state IN EXCLUSIVE MODE;

-- seq: the publication order (gap-free); ins_id: the event_log row.
CREATE TABLE event_seq (
	seq    bigint PRIMARY KEY,
	ins_id bigint NOT NULL UNIQUE
);

INSERT INTO event_seq (seq, ins_id) SELECT seq, ins_id FROM event_log WHERE seq IS NOT NULL;

ALTER TABLE relay_state
	ADD COLUMN floor_ins bigint NOT NULL DEFAULT 0,
	ADD COLUMN hz_ins    bigint,
	ADD COLUMN hz_xid    xid8;

-- Below the oldest unclaimed row; with none, the newest row.
UPDATE relay_state SET floor_ins = coalesce(
	(SELECT min(ins_id) - 1 FROM event_log WHERE seq IS NULL),
	(SELECT max(ins_id) FROM event_log), 0)
WHERE id = 1;

ALTER TABLE event_log
	DROP CONSTRAINT event_log_seq_key,
	ADD CONSTRAINT event_log_seq_retired CHECK (seq IS NULL) NOT VALID,
	ALTER COLUMN ins_id SET DEFAULT
		CASE WHEN pg_current_xact_id() IS NOT NULL
		THEN nextval('event_log_ins_id_seq'::regclass) END;
DROP INDEX event_log_unpublished_idx;
ALTER SEQUENCE event_log_ins_id_seq CACHE 1;
