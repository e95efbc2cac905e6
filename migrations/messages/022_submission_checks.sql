-- EmailJS submissions: whether the submission was verified (CAPTCHA, signature,
-- private key) and why no auto-reply went out, when none did.
ALTER TABLE submissions ADD COLUMN verified boolean NOT NULL DEFAULT false;
ALTER TABLE submissions ADD COLUMN reply_note text;
