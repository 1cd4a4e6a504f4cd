-- OmniQ SQLite schema version 4: the attempt that produced each result (a late write of an
-- earlier attempt never replaces the result of a later one).

ALTER TABLE results ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
