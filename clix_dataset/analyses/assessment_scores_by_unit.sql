-- Assessment scores by unit: per school, unit (the one whose page embeds the assessment), offering
-- and student, the questions answered, right at the first attempt, and right at the last attempt.
-- Runs on the release as it is.
WITH questions AS (
    SELECT r.state, r.server_id, r.school_code, r.assessment_offered_id, r.user_key, r.section_id, r.question_key,
           arg_min(r.is_correct, r.attempt) AS first_right, arg_max(r.is_correct, r.attempt) AS last_right
    FROM assessment_responses r
    WHERE r.response_kind <> 'none'
    GROUP BY ALL)
SELECT q.state, q.server_id, q.school_code, o.unit_name, o.name AS offering, q.user_key,
       count(*) AS questions_answered,
       count(*) FILTER (WHERE q.first_right) AS right_first_attempt,
       count(*) FILTER (WHERE q.last_right) AS right_last_attempt
FROM questions q
LEFT JOIN assessment_offerings o
    ON o.server_id = q.server_id AND o.school_code = q.school_code AND o.offered_id = q.assessment_offered_id
GROUP BY ALL
ORDER BY ALL;
