-- The MIT script's activity-data.csv (qbank/student-activities/activity-data.csv), in long form: per
-- collection, user and date, the four cells the CSV has for that date (Total Timestamps, Total
-- Timespent, Activities Viewed, Activity Timestamps). day is NULL for tool records without a time,
-- which the script dates 5000 years after its run. Restricted tier (it names users, as the CSV does).
WITH labels AS (
    SELECT collection, server_id, school_code, username, user_id, CAST(blob_at AS DATE) AS day, label,
           min(blob_at) AS first_at, max(blob_at) AS last_at, count(*) AS blobs,
           '[' || string_agg('"' || strftime(blob_at, '%Y-%m-%d %I:%M:%S %p') || '"', ', '
                             ORDER BY strftime(blob_at, '%Y-%m-%d %I:%M:%S %p')) || ']' AS stamps
    FROM mit_activity
    GROUP BY ALL),
days AS (
    SELECT collection, server_id, school_code, username, user_id, day, sum(blobs) AS total_timestamps,
           coalesce(epoch_us(max(last_at)) - epoch_us(min(first_at)), 0) AS us,
           string_agg(label, chr(13) || chr(10) ORDER BY first_at, label) AS activities_viewed,
           string_agg(stamps, chr(13) || chr(10) ORDER BY first_at, label) AS activity_timestamps
    FROM labels
    GROUP BY ALL)
SELECT collection, server_id, school_code, username, user_id, day, total_timestamps,
       -- Python's str(timedelta): H:MM:SS, and .ffffff when there are microseconds
       printf('%d:%02d:%02d', us // 3600000000, (us // 60000000) % 60, (us // 1000000) % 60)
           || CASE WHEN us % 1000000 <> 0 THEN printf('.%06d', us % 1000000) ELSE '' END AS total_timespent,
       activities_viewed, activity_timestamps
FROM days
ORDER BY ALL;
