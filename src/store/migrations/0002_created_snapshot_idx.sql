-- Idempotent replays of CreateProperty return the create's first result, read
-- from its property.created event (later updates and deletes do not change
-- it). This index finds that event by property id; partial, so it holds one
-- entry per property, not one per event.
CREATE INDEX event_log_created_idx ON event_log (aggregate_id) WHERE type = 'property.created';
