-- Time per tool per student, from where each tool logs it (tool_events.tool_family; after
-- clix_dashboard_backend_AF tools_proc.py get_time_spent): a tool that logs its session's start and
-- end (ice, astroamer_moon_track, astroamer_planet_trek_activity, rationpatterns) counts end - start of
-- each session; policesquad its own TimeSpentStage; any other tool, per day and session, its last
-- record's time less its first. Anonymous records and impossible times are left out. Runs on the
-- release as it is.
WITH records AS (
    SELECT *, coalesce(CAST(started_at AT TIME ZONE 'Asia/Kolkata' AS DATE),
                       CAST(event_at AT TIME ZONE 'Asia/Kolkata' AS DATE)) AS day
    FROM tool_events
    WHERE NOT anonymous AND NOT impossible_time AND NOT missing_time),
spans AS (
    SELECT state, server_id, school_code, user_key, tool_family, day, seconds
    FROM (SELECT DISTINCT state, server_id, school_code, user_key, tool_family, day, session_id, started_at,
                          ended_at, seconds FROM records WHERE seconds IS NOT NULL)
    UNION ALL
    SELECT state, server_id, school_code, user_key, tool_family, day, time_spent_seconds
    FROM records WHERE seconds IS NULL AND time_spent_seconds IS NOT NULL
    UNION ALL
    SELECT state, server_id, school_code, user_key, tool_family, day,
           date_diff('second', min(event_at), max(event_at))
    FROM records
    WHERE seconds IS NULL AND time_spent_seconds IS NULL AND event_at IS NOT NULL
      AND tool_family NOT IN ('ice', 'astroamer_moon_track', 'astroamer_planet_trek_activity', 'rationpatterns',
                              'policesquad')
    GROUP BY state, server_id, school_code, user_key, tool_family, day, session_id)
SELECT s.state, s.server_id, s.school_code, s.user_key, s.tool_family, d.domain,
       count(DISTINCT s.day) AS days, sum(s.seconds) AS seconds_spent
FROM spans s
LEFT JOIN ref_tool_domain d USING (tool_family)
GROUP BY ALL
ORDER BY ALL;
