-- Slots a rebuild's switch retired: the switch records the old slot and
-- publication here in the same statement that moves the feed to the new
-- one, and they are removed from here once dropped. A process killed
-- between the switch and the drop leaves them here, and the next rebuild
-- or feed run of the feed drops them, instead of leaking a slot that holds
-- WAL forever. Each element is 'slot publication'.
ALTER TABLE transit.feeds ADD COLUMN retired text[] NOT NULL DEFAULT '{}';
