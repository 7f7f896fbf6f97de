-- Assessment results with the question text: every attempt of every question, with the unit whose
-- page embeds the assessment, the offering, the part, the question's text, the choices picked (their
-- text) and qbank's verdict (after Research-Scripts assessment_results_and_logs.py and gStudio's
-- assessment report). Runs on the release as it is.
SELECT r.state, r.server_id, r.school_code, o.unit_name, o.name AS offering, r.part_name, r.user_key,
       r.question_number, i.question_text, r.attempt, r.submitted_at, r.response_kind,
       [c.text FOR c IN i.choices IF list_contains(r.choice_ids, c.id)] AS chosen, r.is_correct
FROM assessment_responses r
LEFT JOIN assessment_items i
    ON i.server_id = r.server_id AND i.school_code = r.school_code AND i.item_id = r.item_id
LEFT JOIN assessment_offerings o
    ON o.server_id = r.server_id AND o.school_code = r.school_code AND o.offered_id = r.assessment_offered_id
ORDER BY ALL;
