-- Lab functionality days per school and month (after clix_dashboard_backend_AF get_data.py
-- get_lab_usage): the days the server was on by its own evidence (server_days: Benchmarks, its
-- heartbeat, its analytics exports), and of them the days with module use (activity-player visits),
-- with tool use (tool records of a logged-in user), with both, and idle (on, neither). Days in IST.
-- Runs on the release as it is.
WITH school_days AS (
    SELECT state, server_id, school_code, day, true AS server_on, false AS modules, false AS tools
    FROM server_days
    UNION ALL
    SELECT state, server_id, school_code, day, false, true, false FROM activity_visits
    UNION ALL
    SELECT state, server_id, school_code, CAST(coalesce(started_at, event_at) AT TIME ZONE 'Asia/Kolkata' AS DATE),
           false, false, true
    FROM tool_events
    WHERE NOT anonymous AND NOT impossible_time AND coalesce(started_at, event_at) IS NOT NULL),
days AS (
    SELECT state, server_id, school_code, day, bool_or(server_on) OR bool_or(modules) AS server_on,
           bool_or(modules) AS modules, bool_or(tools) AS tools
    FROM school_days GROUP BY ALL)
SELECT state, server_id, school_code, strftime(day, '%Y-%m') AS month, academic_year(day) AS academic_year,
       count(*) FILTER (WHERE server_on) AS days_server_on,
       count(*) FILTER (WHERE modules) AS days_modules,
       count(*) FILTER (WHERE tools) AS days_tools,
       count(*) FILTER (WHERE modules AND tools) AS days_modules_and_tools,
       count(*) FILTER (WHERE server_on AND NOT modules AND NOT tools) AS days_idle
FROM days
GROUP BY ALL
ORDER BY ALL;
