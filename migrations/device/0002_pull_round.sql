-- round_acked_seq is the server's acked_seq as of the first page of the
-- pull round under way, or -1 between rounds. Every row of a round is as of
-- the change number fixed at its first page, so its balances hold the
-- effect of this device's operations up to that acked_seq and of no later
-- one, even when the round ends much later: a pull cut short and finished
-- by the next sync, after that sync's push. reflected_seq is taken from it.
ALTER TABLE device_state ADD COLUMN round_acked_seq INTEGER NOT NULL DEFAULT -1;
