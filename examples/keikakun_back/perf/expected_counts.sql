-- What keikakun_back's deadline-alert batch should count in a dry run, computed in SQL alone
-- from the batch's rule (docs/keikakun_back.md, "Checking the e-mail count"), not from its
-- code: e-mails ("email_sent") and push notifications ("push_sent").
--
-- "Today" is the dataset's anchor day (perfkit_dataset.anchor_date): the day perfkit pins the
-- batch's clock to during a run. TESTING=1: only offices with is_test_data = true.
--
--   psql "$(perfkit db-url)" -f perf/expected_counts.sql
--
-- The rule, per office that is not deleted:
--   renewal alert     a latest cycle whose next_renewal_deadline is 1 to 30 days ahead
--                     (due today or earlier is "overdue": never e-mailed)
--   assessment alert  a latest cycle without an 'assessment_sheet' deliverable
--   e-mail            one per member (staffs joined through office_staffs; not deleted, with an
--                     e-mail address) whose preferences say email_notification, and who has a
--                     renewal alert within email_threshold_days or any assessment alert
--   push              for those members who also say system_notification: one per push
--                     subscription, if they have a renewal alert within push_threshold_days
--                     or any assessment alert
-- Missing preference keys take the batch's defaults: e-mail on, 30 days, push off, 10 days.
--
-- An office the batch cannot process gets nothing, and must not stop the others (its per-office
-- work fails; keikakun's resilience rule). Broken, as the data variant `broken_offices` makes it:
--   a member whose preferences are not a JSON object (nor null), or
--   a member with e-mail on whose email_threshold_days is not a JSON number, in an office with
--   any renewal alert (a latest cycle due within 30 days, overdue included: the threshold is
--   compared with each of them).
-- `broken_offices` counts them (0 on the data as seeded).
WITH today AS (
    SELECT anchor_date AS day FROM perfkit_dataset
),
offices_read AS (
    SELECT id FROM offices WHERE deleted_at IS NULL AND is_test_data
),
latest AS (
    SELECT c.id, c.office_id, c.next_renewal_deadline - today.day AS days_left
    FROM support_plan_cycles AS c
    JOIN welfare_recipients AS r ON r.id = c.welfare_recipient_id
    CROSS JOIN today
    WHERE c.is_latest_cycle AND c.office_id IN (SELECT id FROM offices_read)
),
office_alerts AS (
    SELECT
        l.office_id,
        min(l.days_left) FILTER (WHERE l.days_left BETWEEN 1 AND 30) AS nearest_renewal,
        count(*) FILTER (
            WHERE NOT EXISTS (
                SELECT FROM plan_deliverables AS d
                WHERE d.plan_cycle_id = l.id AND d.deliverable_type = 'assessment_sheet'
            )
        ) AS assessments_missing,
        count(*) FILTER (WHERE l.days_left <= 30) AS renewals_due
    FROM latest AS l
    GROUP BY l.office_id
),
members AS (
    SELECT DISTINCT
        s.id,
        m.office_id,
        coalesce((s.notification_preferences ->> 'email_notification')::boolean, true) AS email_on,
        coalesce((s.notification_preferences ->> 'email_threshold_days')::int, 30) AS email_days,
        coalesce((s.notification_preferences ->> 'system_notification')::boolean, false) AS push_on,
        coalesce((s.notification_preferences ->> 'push_threshold_days')::int, 10) AS push_days,
        coalesce(jsonb_typeof(s.notification_preferences), 'null') AS prefs_kind,
        jsonb_typeof(s.notification_preferences -> 'email_threshold_days') AS threshold_kind
    FROM staffs AS s
    JOIN office_staffs AS m ON m.staff_id = s.id
    WHERE m.office_id IN (SELECT id FROM offices_read)
      AND s.deleted_at IS NULL
      AND s.email IS NOT NULL
),
broken AS (
    SELECT DISTINCT mb.office_id
    FROM members AS mb
    JOIN office_alerts AS a USING (office_id)
    WHERE mb.prefs_kind NOT IN ('object', 'null')
       OR (mb.email_on AND mb.threshold_kind <> 'number' AND a.renewals_due > 0)
),
alerted AS (
    SELECT
        mb.*,
        a.nearest_renewal <= mb.email_days OR a.assessments_missing > 0 AS gets_email,
        a.nearest_renewal <= mb.push_days OR a.assessments_missing > 0 AS gets_push
    FROM members AS mb
    JOIN office_alerts AS a USING (office_id)
    WHERE mb.email_on AND mb.office_id NOT IN (SELECT office_id FROM broken)
)
SELECT
    (SELECT day FROM today) AS as_of,
    (SELECT count(*) FROM offices_read) AS offices,
    (SELECT count(*) FROM broken) AS broken_offices,
    (SELECT count(*) FROM alerted WHERE gets_email) AS email_sent,
    (
        SELECT count(*)
        FROM alerted AS al
        JOIN push_subscriptions AS p ON p.staff_id = al.id
        WHERE al.push_on AND al.gets_push
    ) AS push_sent;
