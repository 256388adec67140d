-- A message that carries a secret (a reset code, an agent's first password) keeps it
-- apart from its text, which holds the mark {secret} in its place. The notifier puts
-- it in only when it sends; the secret is erased in the same update that records the
-- message delivered or given up, so it never outlives the message's delivery.
ALTER TABLE sms_outbox ADD COLUMN secret text;
ALTER TABLE sms_outbox ADD CONSTRAINT secret_only_while_pending
    CHECK (secret IS NULL OR state = 'pending');
