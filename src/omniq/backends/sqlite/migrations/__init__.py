"""SQL scripts upgrading the schema one version each (``vN.sql`` reaches version N)."""
