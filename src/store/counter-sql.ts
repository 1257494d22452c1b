/**
 * One statement, the same for SQLite and PostgreSQL: count an event, or start a new window if the stored one has
 * ended. Parameters: key, window end if a new window starts, now.
 */
export const HIT_COUNTER_SQL = (placeholder: (n: number) => string): string => `
  INSERT INTO rate_counters (key, count, reset_at) VALUES (${placeholder(1)}, 1, ${placeholder(2)})
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_counters.reset_at <= ${placeholder(3)} THEN 1 ELSE rate_counters.count + 1 END,
    reset_at = CASE WHEN rate_counters.reset_at <= ${placeholder(3)} THEN excluded.reset_at ELSE rate_counters.reset_at END
  RETURNING count, reset_at`
