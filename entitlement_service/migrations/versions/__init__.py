"""One file per schema change, applied in order by paygrant.db.upgrade_to_head."""
