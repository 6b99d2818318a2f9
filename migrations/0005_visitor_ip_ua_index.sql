-- 0005_visitor_ip_ua_index: heuristic lead linking looks for visitors with the same last IP and
-- user-agent hashes seen within the last minutes. Without this index that search walks every
-- visitor seen in the window (all of a busy site's recent visitors) for each capture; with it, it
-- reads only the matching ones. Visitor upserts already rewrite their index entries (last_seen_at
-- is indexed), so this adds one index entry per event.
CREATE INDEX IF NOT EXISTS visitors_last_ip_ua_seen_idx ON visitors (last_ip_hash, last_ua_hash, last_seen_at);
