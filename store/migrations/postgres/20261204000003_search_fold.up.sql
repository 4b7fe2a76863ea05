-- Search: title and description case-folded in Go (package casefold),
-- matched against the search term folded the same way, so both stores
-- fold all of Unicode alike whatever the database's collation or locale
-- (lower() follows LC_CTYPE, and a "C" locale folds ASCII only). NULL
-- where the source is NULL. The rows already stored are folded by the
-- migration itself, after these statements and in the same transaction
-- (backfillSearchFold).
ALTER TABLE notification ADD COLUMN title_fold text;
--bun:split
ALTER TABLE notification ADD COLUMN description_fold text;
--bun:split
ALTER TABLE broadcast ADD COLUMN title_fold text;
--bun:split
ALTER TABLE broadcast ADD COLUMN description_fold text;
