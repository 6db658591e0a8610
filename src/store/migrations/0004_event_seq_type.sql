-- 0004: ReadEvents by type prefix reads an index instead of walking the log.
--
-- ReadEvents with a type_prefix used to walk event_seq in seq order and test
-- each row's type in event_log: a prefix that few events match made one call
-- read the whole log after after_seq. The pair table now carries the type,
-- indexed with the seq, so a prefix read takes, for each type starting with
-- the prefix (found by a skip scan of this index), the first rows after
-- after_seq, and merges them: its cost follows the page asked for, not the
-- length of the log.
--
-- The claim writes the type with the pair (the relay of this version). NOT
-- NULL makes a claim by an older binary fail instead of writing pairs that a
-- typed read would never see (as 0003 did for its change).

LOCK TABLE relay_state IN EXCLUSIVE MODE;

ALTER TABLE event_seq ADD COLUMN type text;
UPDATE event_seq s SET type = e.type FROM event_log e WHERE e.ins_id = s.ins_id;
-- A pair whose row is gone (pruning deletes both; nothing else deletes rows)
-- would be deleted by the next prune anyway.
DELETE FROM event_seq WHERE type IS NULL;
ALTER TABLE event_seq ALTER COLUMN type SET NOT NULL;
CREATE INDEX event_seq_type_seq_idx ON event_seq (type, seq);
