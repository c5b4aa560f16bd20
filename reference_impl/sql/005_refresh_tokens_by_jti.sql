-- Version 5: a refresh token is found by its jti alone.
-- Its HMAC signature already proves the server issued it, so matching a hash of its exact bytes added no security;
-- and it made a token re-signed with the server's secret (how a harness forges an expired one) look unknown, so a
-- missing expiry check could hide behind the "unknown token" refusal.
ALTER TABLE auth.refresh_tokens DROP COLUMN token_hash;
