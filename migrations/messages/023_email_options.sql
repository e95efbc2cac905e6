-- Email options of a message: reply-to, cc, bcc, custom headers, attachments and
-- whether it carries List-Unsubscribe (RFC 8058).
ALTER TABLE messages ADD COLUMN email jsonb;
