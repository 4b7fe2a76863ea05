-- "All" pages (no read filter) in created order: without this index a
-- user's every notification is sorted for each page; with it, a page
-- reads about a page's worth of index entries, as unread pages do off
-- notification_inbox_idx.
CREATE INDEX notification_user_created_idx ON notification ("user", created DESC, id);
