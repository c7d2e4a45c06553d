-- The delivery dispatcher asks every half second which peers have messages
-- pending, and operators count what waits. Delivered rows stay in the
-- outbox for the record, so without an index led by the state both scan
-- the whole history; with it they read only the pending rows.
CREATE INDEX outbox_by_state ON outbox(state, recipient);
