-- The reviewer of an application may refuse it, not only approve it: reject it for
-- good (with a reason), or send it back to onboarding for corrections (with what to
-- correct). A corrected application waits for review again; whoever corrected it
-- counts as its enterer, so the four-eyes rule holds against them too.
--
--   pending_kyc -> approved        (approve: not by its enterer)
--   pending_kyc -> rejected        (reject: final; the PAN and FPS id stay used)
--   pending_kyc -> returned        (send back, with what to correct)
--   returned    -> pending_kyc     (corrected)
ALTER TABLE agents DROP CONSTRAINT agents_state_check;
ALTER TABLE agents ADD CONSTRAINT agents_state_check
    CHECK (state IN ('pending_kyc', 'returned', 'rejected', 'approved', 'active', 'blocked',
                     'closed'));
ALTER TABLE agent_kyc
    ADD COLUMN review_note text CHECK (length(review_note) BETWEEN 1 AND 2000),
    ADD COLUMN reviewed_by text,
    ADD COLUMN reviewed_at timestamptz,
    ADD CONSTRAINT review_has_reviewer
        CHECK ((review_note IS NULL) = (reviewed_by IS NULL) AND (reviewed_by IS NULL) = (reviewed_at IS NULL)),
    ADD CONSTRAINT review_not_by_enterer CHECK (reviewed_by IS NULL OR reviewed_by <> submitted_by);
