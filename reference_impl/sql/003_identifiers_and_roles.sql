-- Version 3: one account per identifier; groups (roles) given only by who may give them.

-- users: one account per identifier ------------------------------------------------------------------------

-- A second_login is Latin letters, digits, '.', '_' and '-' and not digits only (checked by the service), so it
-- never looks like an email or a phone number: the three kinds of identifier never overlap, and a login resolves
-- to exactly one account. It is unique whatever its case. Rows from before keep their login (NOT VALID).
CREATE UNIQUE INDEX users_second_login_ci_key ON users.users (lower(second_login));
ALTER TABLE users.users
    ADD CONSTRAINT users_second_login_kind CHECK (second_login !~ '@' AND second_login !~ '^\+?[0-9]+$') NOT VALID;

-- Groups are roles: p_assignable lists the groups this caller may give (NULL: any, for an admin). An unknown
-- group raises P0002 naming it (checked first: the checklist's AUTH-REG-05), a group the caller may not give
-- raises 42501 naming it.
DROP FUNCTION users.create_user(text, text, text, text, text[], jsonb);
CREATE FUNCTION users.create_user(
    p_second_login text, p_phone text, p_email text, p_password_hash text,
    p_group_names text[], p_profile jsonb, p_assignable text[]
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_missing text;
    v_denied text;
    v_user_id uuid;
BEGIN
    SELECT string_agg(DISTINCT n, ', ') INTO v_missing
    FROM unnest(p_group_names) AS n
    WHERE NOT EXISTS (SELECT 1 FROM users.groups g WHERE g.name = n);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'group not found: %', v_missing USING ERRCODE = 'no_data_found';
    END IF;
    IF p_assignable IS NOT NULL THEN
        SELECT string_agg(DISTINCT n, ', ') INTO v_denied
        FROM unnest(p_group_names) AS n
        WHERE n <> ALL (p_assignable);
        IF v_denied IS NOT NULL THEN
            RAISE EXCEPTION 'group cannot be assigned: %', v_denied USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    INSERT INTO users.users (second_login, password_hash, profile)
    VALUES (p_second_login, p_password_hash, COALESCE(p_profile, '{}'::jsonb))
    RETURNING id INTO v_user_id;

    INSERT INTO users.contacts (user_id, kind, value)
    VALUES (v_user_id, 'email', p_email), (v_user_id, 'phone', p_phone);

    INSERT INTO users.user_groups (user_id, group_id)
    SELECT v_user_id, g.id FROM users.groups g WHERE g.name = ANY (p_group_names);

    RETURN v_user_id;
END;
$$;
