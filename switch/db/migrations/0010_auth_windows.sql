-- Sliding windows of failed sign-in attempts (per address, per user, per user and
-- address), kept here when Redis cannot be reached. One row per attempt that has not
-- been given back (a success gives its attempt back); rows older than their window
-- are deleted as the window is read. The advisory lock on the key's hash serialises
-- attempts on one key, so a burst never gets more than the limit.
CREATE TABLE auth_windows (
    key text NOT NULL,
    member text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (key, member)
);
CREATE INDEX auth_windows_at ON auth_windows (at);

-- The windows replace the per-user count and lock kept on the user's row.
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;
