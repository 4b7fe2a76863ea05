-- Each user's quiet hours: deliveries to channels other than Web that
-- come due inside the daily window wait until it ends. Start and end are
-- wall-clock times "HH:MM" in time_zone, an IANA zone name; the Service
-- validates them before they are written.
CREATE TABLE user_quiet_hours (
    "user"    TEXT PRIMARY KEY,
    start     TEXT NOT NULL,
    "end"     TEXT NOT NULL,
    time_zone TEXT NOT NULL
) WITHOUT ROWID;
