-- Scheduled messages (sendAt) and quiet hours in the recipient's time zone.
ALTER TABLE messages ADD COLUMN send_at timestamptz;
ALTER TABLE messages ADD COLUMN quiet_hours jsonb;
