-- Teacher vs student logins: per school and role (users.role), the accounts, those that ever logged
-- in (last_login after date_joined), those with any activity-player visit, and their days of visits.
-- Shared class accounts are left out. Runs on the release as it is.
WITH visits AS (
    SELECT user_key, count(DISTINCT day) AS days FROM activity_visits GROUP BY user_key)
SELECT u.state, u.server_id, u.school_code, coalesce(u.role, 'unknown') AS role,
       count(*) AS accounts,
       count(*) FILTER (WHERE NOT u.never_logged_in) AS logged_in,
       count(v.user_key) AS with_visits,
       coalesce(sum(v.days), 0) AS visit_days
FROM users u
LEFT JOIN visits v USING (user_key)
WHERE NOT u.shared_account
GROUP BY ALL
ORDER BY ALL;
