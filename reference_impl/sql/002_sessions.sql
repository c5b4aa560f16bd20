-- Version 2: sessions, revoked in PostgreSQL (logout, refresh-token reuse, deactivation).

-- auth: sessions -------------------------------------------------------------------------------------------

-- A session is one login. Every access and refresh token issued from it carries its id (`sid`), and every use
-- of a token checks here that the session is live: revocation lives in PostgreSQL, so a Redis restart never
-- re-admits a token. A session is the refresh tokens' family, so the family id becomes the session id.
CREATE TABLE auth.sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX sessions_user_live_idx ON auth.sessions (user_id) WHERE revoked_at IS NULL;

-- Existing families become sessions; a family any of whose tokens was revoked was revoked whole.
INSERT INTO auth.sessions (id, user_id, created_at, revoked_at)
SELECT family_id, user_id, min(created_at), max(revoked_at)
FROM auth.refresh_tokens
GROUP BY family_id, user_id;

DROP INDEX auth.refresh_tokens_user_live_idx;
ALTER TABLE auth.refresh_tokens DROP COLUMN revoked_at;  -- one source of truth: the session
ALTER TABLE auth.refresh_tokens RENAME COLUMN family_id TO session_id;
ALTER TABLE auth.refresh_tokens
    ADD CONSTRAINT refresh_tokens_session_fkey
    FOREIGN KEY (session_id) REFERENCES auth.sessions (id) ON DELETE CASCADE;

-- The caller of an authenticated request in one query: the user object when the session is live and the user
-- active, else NULL (the token is refused).
CREATE FUNCTION auth.live_user_json(p_user_id uuid, p_session_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT users.user_json(u.id)
    FROM auth.sessions s JOIN users.users u ON u.id = s.user_id
    WHERE s.id = p_session_id AND s.user_id = p_user_id AND s.revoked_at IS NULL AND u.is_active
$$;

-- Logout: ends every session of the user (all of its refresh tokens die, as the checklist's AUTH-LOGOUT-06 asks,
-- and so do the access tokens of its other sessions). NULL when the calling session is no longer live.
-- Committed synchronously whatever the server's default: an acknowledged logout survives a crash.
CREATE FUNCTION auth.logout(p_user_id uuid, p_session_id uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_ended integer;
BEGIN
    IF auth.live_user_json(p_user_id, p_session_id) IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE auth.sessions SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
    GET DIAGNOSTICS v_ended = ROW_COUNT;
    RETURN v_ended;
END;
$$;

-- Deactivation ends every session at once: the live-session check refuses an inactive user's tokens anyway, and
-- this keeps a later reactivation from bringing the old tokens back.
CREATE FUNCTION auth.end_sessions_of_deactivated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth.sessions SET revoked_at = now() WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_deactivated AFTER UPDATE OF is_active ON users.users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
    EXECUTE FUNCTION auth.end_sessions_of_deactivated();
