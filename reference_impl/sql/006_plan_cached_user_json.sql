-- Version 6: the user object and the live-caller check in PL/pgSQL, same bodies, same results.
-- PostgreSQL (before 18) plans a SQL-language function that it cannot inline again on every call, and these two,
-- on every authenticated request, cost about 0.25 ms of server CPU in planning alone (0.36 ms per call against
-- 0.14 ms measured over loopback). PL/pgSQL keeps each statement's plan for the life of the connection, and the
-- services keep their connections in a pool.
CREATE OR REPLACE FUNCTION users.user_json(p_user_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'id', u.id,
            'second_login', u.second_login,
            'is_active', u.is_active,
            'profile', u.profile,
            'groups', COALESCE(
                (SELECT jsonb_agg(g.name ORDER BY g.name)
                 FROM users.user_groups ug JOIN users.groups g ON g.id = ug.group_id
                 WHERE ug.user_id = u.id),
                '[]'::jsonb),
            'contacts', COALESCE(
                (SELECT jsonb_object_agg(c.kind, c.value) FROM users.contacts c WHERE c.user_id = u.id),
                '{}'::jsonb),
            'created_at', u.created_at,
            'updated_at', u.updated_at)
        FROM users.users u
        WHERE u.id = p_user_id
    );
END;
$$;

CREATE OR REPLACE FUNCTION auth.live_user_json(p_user_id uuid, p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT users.user_json(u.id)
        FROM auth.sessions s JOIN users.users u ON u.id = s.user_id
        WHERE s.id = p_session_id AND s.user_id = p_user_id AND s.revoked_at IS NULL AND u.is_active
    );
END;
$$;
