"""SQL scripts upgrading the PostgreSQL schema one version each (``vN.sql`` reaches N)."""
