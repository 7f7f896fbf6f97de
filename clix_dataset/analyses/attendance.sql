-- Attendance per school and month: the students (users.role student, shared class accounts left
-- out) present on a day (an activity-player visit, or a tool record of theirs), the days with any
-- student, students per such day, and the students present at all that month (after
-- clix_dashboard_backend_AF tools_proc.py daily_attendence). Days in IST. Runs on the release as it is.
WITH present AS (
    SELECT state, server_id, school_code, user_key, day FROM activity_visits
    UNION
    SELECT state, server_id, school_code, user_key,
           CAST(coalesce(started_at, event_at) AT TIME ZONE 'Asia/Kolkata' AS DATE)
    FROM tool_events
    WHERE NOT anonymous AND NOT impossible_time AND coalesce(started_at, event_at) IS NOT NULL),
students AS (
    SELECT p.* FROM present p JOIN users u USING (user_key)
    WHERE u.role = 'student' AND NOT u.shared_account),
daily AS (
    SELECT state, server_id, school_code, day, count(DISTINCT user_key) AS students FROM students GROUP BY ALL)
SELECT d.state, d.server_id, d.school_code, strftime(d.day, '%Y-%m') AS month,
       count(*) AS days_with_students, round(avg(d.students), 1) AS students_per_day,
       (SELECT count(DISTINCT s.user_key) FROM students s
        WHERE s.server_id = d.server_id AND s.school_code = d.school_code
          AND strftime(s.day, '%Y-%m') = strftime(d.day, '%Y-%m')) AS students_present
FROM daily d
GROUP BY ALL
ORDER BY ALL;
