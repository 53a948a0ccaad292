-- The order in which workers take the entities of a run: lower first.
-- The planner puts referenced tables before the tables that reference
-- them, and larger tables first among equals, so the largest table's
-- primary key and foreign keys are built while the rest still copy.
ALTER TABLE transit.run_entities ADD COLUMN priority integer NOT NULL DEFAULT 0;
