"""The daily run counts behind the dashboard (`portal.models.SyncRunDailyCount`).

`COUNTS_TRIGGER_SQL` installs the PostgreSQL triggers that keep them (the
migration runs it); `daily_counts_rebuild` recomputes them from the runs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

# One function for every write to core_syncrun, at statement level with
# transition tables: a bulk insert of 50,000 runs is one aggregate, not
# 50,000 trigger calls. Rows are upserted in key order (no deadlock between
# two writers touching the same keys) and a delta of 0 writes nothing.
_DELTA = """
    INSERT INTO portal_syncrundailycount (partner_id, day, status, n)
    SELECT m.partner_id, d.day, d.status, sum(d.n)
    FROM ({rows}) AS d JOIN core_merchant m ON m.id = d.merchant_id
    GROUP BY 1, 2, 3 HAVING sum(d.n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (partner_id, day, status)
    DO UPDATE SET n = portal_syncrundailycount.n + EXCLUDED.n;
"""
_NEW = (
    "SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date AS day, status, 1 AS n FROM new_rows"
)
_OLD = "SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date AS day, status, -1 AS n FROM old_rows"

COUNTS_TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION portal_syncrun_daily_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_DELTA.format(rows=_NEW)}
  ELSIF TG_OP = 'DELETE' THEN
    {_DELTA.format(rows=_OLD)}
  ELSIF TG_OP = 'UPDATE' THEN
    {_DELTA.format(rows=_NEW + " UNION ALL " + _OLD)}
  ELSE
    DELETE FROM portal_syncrundailycount;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS portal_syncrun_count_insert ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_update ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_delete ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_truncate ON core_syncrun;
CREATE TRIGGER portal_syncrun_count_insert AFTER INSERT ON core_syncrun
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION portal_syncrun_daily_count();
CREATE TRIGGER portal_syncrun_count_update AFTER UPDATE ON core_syncrun
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION portal_syncrun_daily_count();
CREATE TRIGGER portal_syncrun_count_delete AFTER DELETE ON core_syncrun
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION portal_syncrun_daily_count();
CREATE TRIGGER portal_syncrun_count_truncate AFTER TRUNCATE ON core_syncrun
  FOR EACH STATEMENT EXECUTE FUNCTION portal_syncrun_daily_count();
"""  # noqa: S608 (constant text, nothing from input)

COUNTS_TRIGGER_DROP_SQL = """
DROP TRIGGER IF EXISTS portal_syncrun_count_insert ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_update ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_delete ON core_syncrun;
DROP TRIGGER IF EXISTS portal_syncrun_count_truncate ON core_syncrun;
DROP FUNCTION IF EXISTS portal_syncrun_daily_count();
"""

# Writers wait while the counts are recomputed (SHARE ROW EXCLUSIVE blocks
# INSERT/UPDATE/DELETE on the runs, not reads), so none is lost or doubled.
_TRUE_COUNTS = """
    SELECT m.partner_id, (r.created_at AT TIME ZONE 'UTC')::date, r.status, count(*)
    FROM core_syncrun r JOIN core_merchant m ON m.id = r.merchant_id
    GROUP BY 1, 2, 3
"""
COUNTS_REBUILD_SQL = f"""
LOCK TABLE core_syncrun IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM portal_syncrundailycount;
INSERT INTO portal_syncrundailycount (partner_id, day, status, n) {_TRUE_COUNTS};
"""  # noqa: S608 (constant text, nothing from input)
_KEPT = "SELECT partner_id, day, status, n FROM portal_syncrundailycount WHERE n <> 0"
_DRIFT_SQL = f"""
    SELECT (SELECT count(*) FROM ({_KEPT} EXCEPT {_TRUE_COUNTS}) AS a)
         + (SELECT count(*) FROM ({_TRUE_COUNTS} EXCEPT {_KEPT}) AS b)
"""  # noqa: S608 (constant text, nothing from input)


def daily_counts_kept() -> bool:
    """True where the triggers keep the counts (PostgreSQL)."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class Rebuild:
    """`drifted`: count rows that were wrong before the rebuild (0 when the
    triggers kept them); `rows`: count rows after it."""

    drifted: int
    rows: int


def daily_counts_rebuild() -> Rebuild:
    """Recompute every daily count from the runs, in one transaction that
    holds off run writers meanwhile. Raises RuntimeError off PostgreSQL."""
    if not daily_counts_kept():
        raise RuntimeError("The daily run counts are kept on PostgreSQL only")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE core_syncrun IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(_DRIFT_SQL)
        drifted = cursor.fetchone()[0]
        cursor.execute(COUNTS_REBUILD_SQL)
        cursor.execute("SELECT count(*) FROM portal_syncrundailycount")
        rows = cursor.fetchone()[0]
    return Rebuild(drifted=drifted, rows=rows)
