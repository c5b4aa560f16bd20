-- Reference schema, version 1: users and groups, refresh tokens, 2can payments.
-- Applied once by `python -m reference_impl migrate` (recorded in public.schema_migrations).

CREATE SCHEMA IF NOT EXISTS users;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS to_can;

-- users ----------------------------------------------------------------------------------------------------

CREATE TABLE users.groups (
    id   smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CONSTRAINT groups_name_key UNIQUE
);

CREATE TABLE users.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    second_login  text NOT NULL CONSTRAINT users_second_login_key UNIQUE,
    password_hash text NOT NULL,
    is_active     boolean NOT NULL DEFAULT true,
    profile       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users.user_groups (
    user_id  uuid NOT NULL REFERENCES users.users (id) ON DELETE CASCADE,
    group_id smallint NOT NULL REFERENCES users.groups (id),
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE users.contacts (
    user_id uuid NOT NULL REFERENCES users.users (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('email', 'phone')),
    value   text NOT NULL,
    PRIMARY KEY (user_id, kind)
);
-- One index per kind, so a violation names the field that clashed.
CREATE UNIQUE INDEX contacts_email_key ON users.contacts (value) WHERE kind = 'email';
CREATE UNIQUE INDEX contacts_phone_key ON users.contacts (value) WHERE kind = 'phone';

INSERT INTO users.groups (name) VALUES ('customer'), ('admin');

-- Creates a user with contacts and groups in one transaction. Uniqueness is left to the constraints above,
-- so two racing registrations cannot both win; an unknown group raises P0002 naming it.
CREATE FUNCTION users.create_user(
    p_second_login text, p_phone text, p_email text, p_password_hash text, p_group_names text[], p_profile jsonb
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_missing text;
    v_user_id uuid;
BEGIN
    SELECT string_agg(DISTINCT n, ', ') INTO v_missing
    FROM unnest(p_group_names) AS n
    WHERE NOT EXISTS (SELECT 1 FROM users.groups g WHERE g.name = n);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'group not found: %', v_missing USING ERRCODE = 'no_data_found';
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

-- The user object, with groups and contacts aggregated as JSON; NULL when the user does not exist.
CREATE FUNCTION users.user_json(p_user_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
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
$$;

-- auth -----------------------------------------------------------------------------------------------------

-- Refresh tokens are single use. A family is the chain of tokens issued from one login; reusing a spent
-- token revokes its whole family (RFC 9700 section 4.14).
CREATE TABLE auth.refresh_tokens (
    jti        text PRIMARY KEY,
    token_hash bytea NOT NULL,
    user_id    uuid NOT NULL REFERENCES users.users (id) ON DELETE CASCADE,
    family_id  uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_user_live_idx ON auth.refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_family_idx ON auth.refresh_tokens (family_id);

-- to_can (2can payment callbacks) --------------------------------------------------------------------------

CREATE TABLE to_can.merchants (
    mid       text PRIMARY KEY,
    name      text NOT NULL,
    is_active boolean NOT NULL DEFAULT true
);

CREATE TABLE to_can.payments (
    id                text PRIMARY KEY,
    mid               text NOT NULL REFERENCES to_can.merchants (mid),
    amount            numeric(14, 2) NOT NULL,
    reader_id         text NOT NULL,
    source_created_at text NOT NULL,
    input_type        integer NOT NULL,
    client_name       text NOT NULL,
    description       text NOT NULL,
    callback          jsonb NOT NULL,  -- the callback as received, extra fields included
    received_at       timestamptz NOT NULL DEFAULT now()
);

INSERT INTO to_can.merchants (mid, name) VALUES
    ('100000000001', 'Reference merchant 1'),
    ('100000000002', 'Reference merchant 2');

-- Validates the merchant, stores the payment idempotently on Id and returns the result.
-- A repeat of the same Id adds no row and returns the same result, built from the stored row.
CREATE FUNCTION to_can.process_webhook(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_payment to_can.payments;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM to_can.merchants m WHERE m.mid = payload ->> 'MID' AND m.is_active) THEN
        RETURN jsonb_build_object('error', 'Invalid MID');
    END IF;

    INSERT INTO to_can.payments (
        id, mid, amount, reader_id, source_created_at, input_type, client_name, description, callback)
    VALUES (
        payload ->> 'Id', payload ->> 'MID', (payload ->> 'Amount')::numeric, payload ->> 'ReaderId',
        payload ->> 'CreatedAt', (payload ->> 'Inputtype')::integer, payload ->> 'ClientName',
        payload ->> 'Description', payload)
    ON CONFLICT (id) DO NOTHING;

    SELECT * INTO v_payment FROM to_can.payments p WHERE p.id = payload ->> 'Id';
    RETURN jsonb_build_object(
        'status', 'processed',
        'payment_id', v_payment.id,
        'mid', v_payment.mid,
        'amount', to_char(v_payment.amount, 'FM999999999990.00'),
        'received_at', v_payment.received_at);
END;
$$;
