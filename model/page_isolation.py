"""Page isolation of a pageblock range and its undo (mm/page_isolation.c, 4.19). Being written."""
